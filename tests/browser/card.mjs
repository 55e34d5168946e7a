// The payment form with Stripe Elements (a publishable key is set): Stripe.js is the
// stand-in of stripe-stand-in.js, served for https://js.stripe.com/v3/ under the page's
// CSP. A card Stripe.js refuses is said beside the card and leaves the form usable; a
// second refusal replaces the message; the corrected card then pays.
import { readFileSync } from "node:fs";
import { email, expect, run } from "./lib.mjs";

const STAND_IN = readFileSync(new URL("./stripe-stand-in.js", import.meta.url), "utf8");

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
    await buyer.page.route("https://js.stripe.com/v3/", (route) =>
      route.fulfill({ contentType: "application/javascript", body: STAND_IN }),
    );
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

    t.step("the corrected card pays");
    await number.fill("4242 4242 4242 4242");
    await pay.click();
    await buyer.page.getByText("Payment confirmed").waitFor();
  },
  { allowedOrigins: ["https://js.stripe.com"] },
);
