// Two shoppers: one signs up and sells a ticket; the other signs in, buys it, watches the
// countdown move, pays with a test card, and sees the order complete; the sold ticket is
// gone from the listing.
import { email, eventually, expect, run } from "./lib.mjs";

await run("purchase", async (t) => {
  const title = `Jazz night ${Date.now().toString(36)}`;

  t.step("the seller signs up and sells a ticket");
  const seller = await t.shopper("seller");
  await seller.goto("/");
  await t.check(seller, "listing-signed-out");
  await seller.page.getByRole("navigation").getByRole("link", { name: "Sign up" }).click();
  await t.check(seller, "signup");
  await seller.signUp(email("seller"));
  await seller.page.getByRole("navigation").getByRole("link", { name: "Sell a ticket" }).click();
  await t.check(seller, "sell");
  const ticketPath = await seller.sell(title, "42.50");
  expect((await seller.main()).includes("This is your ticket."), "the seller is not told it is theirs");
  await t.check(seller, "ticket-own");

  t.step("the buyer signs up, signs out, and signs in again");
  const buyer = await t.shopper("buyer");
  const buyerEmail = email("buyer");
  await buyer.signUp(buyerEmail);
  await buyer.signOut();
  await buyer.page.getByRole("navigation").getByRole("link", { name: "Sign in" }).click();
  await t.check(buyer, "signin");
  await buyer.page.getByLabel("Email").fill(buyerEmail);
  await buyer.page.getByLabel("Password").fill("pass1234");
  await buyer.page.getByRole("button", { name: "Sign in" }).click();
  await buyer.page.waitForURL(/\/$/);
  expect((await buyer.page.locator("header").innerText()).includes(`Signed in as ${buyerEmail}`), "the buyer is not signed in");

  t.step("the buyer finds the ticket in the listing and buys it");
  const listed = buyer.page.getByRole("link", { name: title });
  await listed.waitFor();
  expect((await buyer.main()).includes("$42.50"), "the listing does not show the price");
  await t.check(buyer, "listing");
  await listed.click();
  expect(new URL(buyer.page.url()).pathname === ticketPath, "the listing links elsewhere");
  await t.check(buyer, "ticket");
  const orderPath = await buyer.buy("$42.50");

  t.step("the countdown moves");
  const left = buyer.page.locator("[data-time-left]");
  const seconds = async () => {
    const [m, s] = (await left.innerText()).split(":").map(Number);
    return m * 60 + s;
  };
  const first = await seconds();
  expect(first > 60 && first <= 600, `the countdown starts at ${first} s`);
  await eventually("the countdown to move", 5000, async () => (await seconds()) < first);
  await t.check(buyer, "order");

  t.step("the buyer pays with a test card and the order completes");
  expect((await buyer.page.getByLabel("Card token").inputValue()) === "tok_visa", "no test token offered");
  await buyer.page.getByRole("button", { name: "Pay $42.50" }).click();
  await buyer.page.getByText("Payment confirmed").waitFor();
  expect(new URL(buyer.page.url()).pathname === `${orderPath}/paid`, "not on the confirmation");
  expect((await buyer.page.locator("[data-status]").innerText()) === "Paid", "the order is not paid");
  await t.check(buyer, "order-paid");

  t.step("my orders show it paid, with nothing to cancel");
  await buyer.page.getByRole("link", { name: "My orders" }).first().click();
  const row = buyer.page.locator("ul.orders li", { hasText: title });
  expect((await row.innerText()).includes("Paid"), "my orders do not say paid");
  expect((await row.getByRole("button").count()) === 0, "a paid order can be cancelled");
  await t.check(buyer, "my-orders");

  t.step("the sold ticket is gone from the listing, and its seller cannot edit it");
  await buyer.goto("/");
  expect((await buyer.page.getByRole("link", { name: title }).count()) === 0, "the sold ticket is still listed");
  await seller.goto(ticketPath);
  expect((await seller.main()).includes("cannot be edited"), "the seller may still edit a sold ticket");
});
