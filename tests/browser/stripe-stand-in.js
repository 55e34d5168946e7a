// A stand-in for Stripe.js v3 in the browser tests, served for https://js.stripe.com/v3/
// (card.mjs routes the request here, so nothing leaves the machine). It has the part of
// Stripe.js's API the shop's app.js uses, as Stripe documents it: `Stripe(key)`,
// `elements().create("card").mount(element)`, and `createToken(card)`, which resolves to
// `{token}` or to `{error: {type: "validation_error", code, message}}`. The card is an
// input in the page instead of Stripe's frame: sixteen digits become the test token
// `tok_visa`; anything else is the error Stripe.js gives for an incomplete number.
window.Stripe = function Stripe(key) {
  if (!/^pk_test_/.test(key)) throw new Error(`stand-in Stripe.js: ${key} is not a test key`);
  return {
    elements() {
      return {
        create(type) {
          const input = document.createElement("input");
          input.setAttribute("aria-label", "Card number");
          input.setAttribute("autocomplete", "cc-number");
          input.setAttribute("inputmode", "numeric");
          return {
            type,
            input,
            mount(element) {
              element.append(input);
            },
          };
        },
      };
    },
    async createToken(card) {
      await new Promise((resolve) => setTimeout(resolve, 200));
      if (!/^\d{16}$/.test(card.input.value.replace(/\s/g, ""))) {
        return {
          error: {
            type: "validation_error",
            code: "incomplete_number",
            message: "Your card number is incomplete.",
          },
        };
      }
      return { token: { id: "tok_visa", object: "token" } };
    },
  };
};
