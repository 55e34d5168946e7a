// boxoffice: the one script, served by the web component with a content hash in its name.
// Every page works without it; it adds a live countdown on an order, Stripe Elements
// where a publishable key is configured, and guards against posting a form twice.
"use strict";

function timeLeft(ms) {
  const seconds = Math.max(0, Math.ceil(ms / 1000));
  const h = Math.floor(seconds / 3600);
  const m = Math.floor(seconds / 60) % 60;
  const s = String(seconds % 60).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${s}` : `${m}:${s}`;
}

// An open order counts down to its expiry; at zero it says "Order expired" and its
// payment form can no longer be sent (the server refuses it anyway).
function countdown(timer) {
  const expiresAt = Date.parse(timer.dataset.expiresAt);
  const left = timer.querySelector("[data-time-left]");
  const expired = document.querySelector(".expired-note");
  const tick = () => {
    const ms = expiresAt - Date.now();
    left.textContent = timeLeft(ms);
    if (ms > 0) return;
    clearInterval(interval);
    timer.hidden = true;
    if (expired) expired.hidden = false;
    const status = document.querySelector("[data-status]");
    if (status) status.textContent = "Expired";
    for (const form of document.querySelectorAll("form.pay, form.cancel")) {
      for (const control of form.elements) control.disabled = true;
    }
  };
  const interval = setInterval(tick, 1000);
  tick();
}

// Stripe Elements: the card is entered in Stripe's frame and made a PaymentMethod, whose
// id the form posts like a test token. While Stripe.js works the form's buttons wait; a
// card error is shown beside the card (one message, replaced by the next) and the form
// can be sent again. When the buyer's bank asks for authentication (3-D Secure), the page
// comes back with the payment's client secret: Stripe.js takes the buyer through it, then
// the form is sent again with the same PaymentMethod, and the server finds it paid.
function stripeElements(mount) {
  if (typeof Stripe !== "function") return;
  const stripe = Stripe(mount.dataset.stripeKey);
  const card = stripe.elements().create("card");
  card.mount(mount);
  const form = mount.closest("form");
  const buttons = (disabled) => {
    for (const button of form.querySelectorAll("button")) button.disabled = disabled;
  };
  const refused = (message) => {
    buttons(false);
    form.elements.token.value = "";
    mount.setAttribute("aria-invalid", "true");
    let alert = mount.nextElementSibling;
    if (!alert || !alert.matches("p.error")) {
      mount.insertAdjacentHTML("afterend", '<p class="error" role="alert"></p>');
      alert = mount.nextElementSibling;
    }
    alert.textContent = message;
  };
  form.addEventListener("submit", async (event) => {
    if (form.elements.token.value) return;
    event.preventDefault();
    buttons(true);
    const { paymentMethod, error } = await stripe.createPaymentMethod({ type: "card", card });
    if (error) return refused(error.message);
    form.elements.token.value = paymentMethod.id;
    form.submit();
  });
  const clientSecret = mount.dataset.clientSecret;
  if (clientSecret) {
    buttons(true);
    stripe.handleNextAction({ clientSecret }).then(({ error }) => {
      if (error) return refused(error.message);
      form.submit();
    });
  }
}

// A form sent once is not sent again by a second click while the page loads. A submit a
// script took over (Stripe Elements' above) is not a send.
function sendOnce(form) {
  form.addEventListener("submit", (event) => {
    if (event.defaultPrevented) return;
    setTimeout(() => {
      for (const button of form.querySelectorAll("button")) button.disabled = true;
    });
  });
}

document.querySelectorAll("[data-expires-at]").forEach(countdown);
document.querySelectorAll("[data-stripe-key]").forEach(stripeElements);
document.querySelectorAll("form[method=post]").forEach(sendOnce);
