// A page never shows another shopper's orders, and a form posted from another site is
// refused and changes nothing.
import { email, expect, run } from "./lib.mjs";

const EVIL = "http://evil.localhost";

await run(
  "privacy",
  async (t) => {
    const title = `Private show ${Date.now().toString(36)}`;
    const seller = await t.shopper("seller");
    await seller.signUp(email("seller"));
    const ticketPath = await seller.sell(title, "20");

    t.step("Ada reserves a ticket");
    const ada = await t.shopper("ada");
    await ada.signUp(email("ada"));
    await ada.goto(ticketPath);
    const adasOrder = await ada.buy("$20.00");

    t.step("Bob sees none of Ada's orders");
    const bob = await t.shopper("bob");
    await bob.signUp(email("bob"));
    await bob.page.getByRole("link", { name: "My orders" }).click();
    const mine = await bob.main();
    expect(mine.includes("You have no orders yet") && !mine.includes(title), "Bob sees orders that are not his");
    const response = await bob.goto(adasOrder);
    expect(response.status() === 404, `Ada's order answered Bob ${response.status()}`);
    expect((await bob.heading()) === "Page not found" && !(await bob.main()).includes(title), "Bob sees Ada's order");
    await t.check(bob, "not-found");

    t.step("signed out, the orders ask for a sign-in");
    const stranger = await t.shopper("stranger");
    await stranger.goto("/orders");
    expect(new URL(stranger.page.url()).pathname === "/signin", "the orders page opened without a session");

    t.step("a form on another site posts to the shop: refused, nothing sold");
    await bob.context.route(`${EVIL}/**`, (route) =>
      route.fulfill({
        contentType: "text/html",
        body: `<!doctype html><html lang="en"><title>Win a prize</title>
          <form method="post" action="${process.argv[2]}/sell">
          <input name="title" value="Forged ${title}"><input name="price" value="1">
          <button>Claim your prize</button></form></html>`,
      }),
    );
    await bob.page.goto(`${EVIL}/prize`);
    await bob.page.getByRole("button", { name: "Claim your prize" }).click();
    await bob.page.waitForURL(/\/sell$/);
    expect((await bob.heading()) === "Request refused", `the forged post was not refused: ${await bob.heading()}`);
    await t.check(bob, "refused");
    await bob.goto("/");
    expect((await bob.page.getByText(`Forged ${title}`).count()) === 0, "the forged ticket was put on sale");
  },
  { allowedOrigins: [EVIL] },
);
