// A stand-in for Stripe.js v3, served by the fake Stripe at GET /v3/ (the browser tests
// route https://js.stripe.com/v3/ and https://api.stripe.com/** to the fake, so nothing
// leaves the machine and the page's CSP stays exactly Stripe's origins). It has the part
// of Stripe.js's API the shop uses, as Stripe documents it:
//
// - `Stripe(key)`, refusing anything but a test publishable key;
// - `elements().create("card").mount(element)`: the card is an input in the page instead
//   of Stripe's frame;
// - `createToken(card)` -> `{token}` | `{error}`;
// - `createPaymentMethod({type: "card", card})` -> `{paymentMethod}` | `{error}`
//   (https://docs.stripe.com/js/payment_methods/create_payment_method);
// - `handleNextAction({clientSecret})` -> `{paymentIntent}` | `{error}`
//   (https://docs.stripe.com/js/payment_intents/handle_next_action), showing a dialog like
//   Stripe's 3D Secure 2 test page, whose buttons complete or fail the authentication.
//
// The card numbers are the test cards of https://docs.stripe.com/testing; the magic test
// payment methods and tokens they become are reusable, as on Stripe.
(() => {
  const API = "https://api.stripe.com";
  // digits -> [PaymentMethod, token]
  const CARDS = {
    "4242424242424242": ["pm_card_visa", "tok_visa"],
    "4000002760003184": ["pm_card_authenticationRequired", "tok_threeDSecure2Required"],
    "4000000000000002": ["pm_card_chargeDeclined", "tok_chargeDeclined"],
    "4000000000009995": [
      "pm_card_visa_chargeDeclinedInsufficientFunds",
      "tok_chargeDeclinedInsufficientFunds",
    ],
  };

  const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  // The test card typed in, or the validation error Stripe.js gives for it.
  function read(card) {
    const digits = card && card.input ? card.input.value.replace(/\s/g, "") : "";
    if (!/^\d{16}$/.test(digits)) {
      return {
        error: {
          type: "validation_error",
          code: "incomplete_number",
          message: "Your card number is incomplete.",
        },
      };
    }
    const found = CARDS[digits];
    if (!found) {
      return {
        error: {
          type: "validation_error",
          code: "invalid_number",
          message: "Your card number is invalid.",
        },
      };
    }
    return { paymentMethod: found[0], token: found[1], last4: digits.slice(-4) };
  }

  // The 3-D Secure dialog; resolves with "complete" or "fail" when a button is clicked.
  function challenge() {
    return new Promise((resolve) => {
      const dialog = document.createElement("div");
      dialog.setAttribute("role", "dialog");
      dialog.setAttribute("aria-modal", "true");
      dialog.setAttribute("aria-label", "3D Secure 2 Test Page");
      // CSSOM, not style attributes: allowed under a CSP without 'unsafe-inline'.
      Object.assign(dialog.style, {
        position: "fixed",
        inset: "0",
        display: "flex",
        alignItems: "center",
        justifyContent: "center",
        background: "rgba(0, 0, 0, 0.5)",
        zIndex: "2147483647",
      });
      const panel = document.createElement("div");
      Object.assign(panel.style, {
        background: "#fff",
        color: "#000",
        padding: "1.5rem",
        borderRadius: "0.5rem",
        maxWidth: "24rem",
      });
      const heading = document.createElement("h2");
      heading.textContent = "3D Secure 2 Test Page";
      const text = document.createElement("p");
      text.textContent = "Complete or fail this test payment's authentication.";
      panel.append(heading, text);
      const buttons = [];
      for (const [label, outcome] of [
        ["Complete", "complete"],
        ["Fail", "fail"],
      ]) {
        const button = document.createElement("button");
        button.type = "button";
        button.textContent = label;
        button.style.marginRight = "0.5rem";
        button.addEventListener("click", () => {
          for (const b of buttons) b.disabled = true;
          dialog.remove();
          resolve(outcome);
        });
        buttons.push(button);
        panel.append(button);
      }
      dialog.append(panel);
      document.body.append(dialog);
      buttons[0].focus();
    });
  }

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
        await pause(200);
        const found = read(card);
        if (found.error) return { error: found.error };
        return {
          token: {
            id: found.token,
            object: "token",
            type: "card",
            card: { object: "card", last4: found.last4 },
          },
        };
      },

      // Both of Stripe.js's forms: ({type, card}) and the older ("card", card).
      async createPaymentMethod(options, element) {
        const { type, card } =
          typeof options === "string" ? { type: options, card: element } : options || {};
        if (type !== "card") {
          throw new Error(`stand-in Stripe.js: payment method type ${type} is not supported`);
        }
        await pause(200);
        const found = read(card);
        if (found.error) return { error: found.error };
        return {
          paymentMethod: {
            id: found.paymentMethod,
            object: "payment_method",
            type: "card",
            card: { last4: found.last4 },
          },
        };
      },

      async handleNextAction(options) {
        const clientSecret = options && options.clientSecret;
        if (typeof clientSecret !== "string" || !clientSecret.includes("_secret_")) {
          throw new Error("stand-in Stripe.js: handleNextAction needs {clientSecret}");
        }
        const id = clientSecret.split("_secret_")[0];
        const outcome = await challenge();
        let response;
        let body;
        try {
          response = await fetch(
            `${API}/v1/payment_intents/${encodeURIComponent(id)}/authenticate`,
            {
              method: "POST",
              headers: {
                Authorization: `Bearer ${key}`,
                "Content-Type": "application/x-www-form-urlencoded",
              },
              body: new URLSearchParams({ client_secret: clientSecret, outcome }).toString(),
            },
          );
          body = await response.json();
        } catch (e) {
          return {
            error: {
              type: "api_connection_error",
              message: `An error occurred with our connection to Stripe. (${e})`,
            },
          };
        }
        if (!response.ok) return { error: body.error };
        if (body.status === "succeeded" || body.status === "processing") {
          return { paymentIntent: body };
        }
        return {
          error: {
            type: "invalid_request_error",
            code: "payment_intent_authentication_failure",
            message: body.last_payment_error && body.last_payment_error.message,
            payment_intent: body,
          },
        };
      },
    };
  };
})();
