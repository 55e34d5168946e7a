// An order left unpaid (the shop runs with a reservation window of a few seconds): the
// countdown runs out, "Order expired" shows, payment is no longer offered, and the ticket
// is back on sale.
import { email, eventually, expect, run } from "./lib.mjs";

await run("expiry", async (t) => {
  const title = `Matinee ${Date.now().toString(36)}`;
  const seller = await t.shopper("seller");
  await seller.signUp(email("seller"));
  const ticketPath = await seller.sell(title, "15");

  t.step("the buyer reserves the ticket");
  const buyer = await t.shopper("buyer");
  await buyer.signUp(email("buyer"));
  await buyer.goto(ticketPath);
  const orderPath = await buyer.buy("$15.00");
  await buyer.page.locator("[data-time-left]").waitFor();

  t.step("the countdown runs out");
  const expired = buyer.page.getByText("Order expired");
  await expired.waitFor({ timeout: 20_000 });
  expect(await buyer.page.getByRole("button", { name: "Pay $15.00" }).isDisabled(), "payment is still offered");
  expect((await buyer.page.locator("[data-status]").innerText()) === "Expired", "the status does not say expired");

  t.step("the ticket is back on sale");
  await eventually("the ticket back in the listing", 20_000, async () => {
    await buyer.goto("/");
    return (await buyer.page.getByRole("link", { name: title }).count()) === 1;
  });

  t.step("the order page says so from the server too");
  await buyer.goto(orderPath);
  expect((await buyer.main()).includes("Order expired"), "the order page does not say it expired");
  expect((await buyer.page.getByRole("button", { name: /^Pay/ }).count()) === 0, "an expired order offers payment");
  await t.check(buyer, "order-expired");
  await buyer.page.getByRole("link", { name: "All my orders" }).click();
  expect((await buyer.page.locator("ul.orders li", { hasText: title }).innerText()).includes("Expired"), "my orders do not say expired");
});
