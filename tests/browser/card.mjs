// The payment form with Stripe Elements (a publishable key is set): Stripe.js is the fake
// Stripe's stand-in (testkit/src/stripe/stripe.js), served for https://js.stripe.com/v3/,
// and its calls to https://api.stripe.com go to the fake, so the page's CSP is exactly the
// one production has. A card Stripe.js refuses is said beside the card and leaves the form
// usable; a second refusal replaces the message. A card that needs 3-D Secure brings the
// bank's challenge: failed, the form says so and stays usable; completed, the order is paid.
import { email, expect, run } from "./lib.mjs";

const FAKE = process.env.STRIPE_FAKE;
if (!FAKE) throw new Error("STRIPE_FAKE (the fake Stripe's base URL) is not set");

// Sends a request meant for Stripe to the fake instead, path and all.
async function toTheFake(route, base) {
  const url = new URL(route.request().url());
  const response = await route.fetch({ url: `${FAKE}${base ?? url.pathname}${url.search}` });
  await route.fulfill({ response });
}

await run(
  "card",
  async (t) => {
    const title = `Card night ${Date.now().toString(36)}`;

    t.step("a seller puts a ticket on sale");
    const seller = await t.shopper("seller");
    await seller.signUp(email("seller"));
    const ticketPath = await seller.sell(title, "18.00");

    t.step("the buyer opens the order's payment form with Stripe Elements");
    const buyer = await t.shopper("buyer");
    await buyer.page.route("https://js.stripe.com/v3/", (route) => toTheFake(route, "/v3/"));
    await buyer.page.route("https://api.stripe.com/**", (route) => toTheFake(route));
    await buyer.signUp(email("buyer"));
    await buyer.goto(ticketPath);
    await buyer.buy("$18.00");
    const number = buyer.page.getByLabel("Card number");
    await number.waitFor();
    const pay = buyer.page.getByRole("button", { name: "Pay $18.00" });

    t.step("an incomplete card is refused by Stripe.js, and the form stays usable");
    await number.fill("4242 4242");
    await pay.click();
    const alerts = buyer.page.getByRole("alert");
    await alerts.filter({ hasText: "Your card number is incomplete." }).waitFor();
    expect(await pay.isEnabled(), "the Pay button stays disabled after a card error");
    await t.check(buyer, "order-card-error");

    t.step("a second refusal replaces the message");
    await pay.click();
    await buyer.page.waitForTimeout(600);
    expect((await alerts.count()) === 1, `${await alerts.count()} messages beside the card`);
    expect(await pay.isEnabled(), "the Pay button is disabled after the second error");

    t.step("a card that needs 3-D Secure: the buyer fails the bank's challenge");
    const challenge = buyer.page.getByRole("dialog", { name: "3D Secure 2 Test Page" });
    await number.fill("4000 0027 6000 3184");
    await pay.click();
    await buyer.page.getByText("Your bank asks you to confirm this payment.").waitFor();
    await challenge.waitFor();
    await challenge.getByRole("button", { name: "Fail" }).click();
    await alerts.filter({ hasText: "We are unable to authenticate" }).waitFor();
    expect(await pay.isEnabled(), "the Pay button stays disabled after a failed challenge");

    t.step("the same card again, and the buyer completes the challenge: paid");
    await buyer.page.getByLabel("Card number").fill("4000 0027 6000 3184");
    await pay.click();
    await challenge.waitFor();
    await challenge.getByRole("button", { name: "Complete" }).click();
    await buyer.page.getByText("Payment confirmed").waitFor();
  },
  { allowedOrigins: ["https://js.stripe.com", "https://api.stripe.com"] },
);
