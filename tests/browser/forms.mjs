// Every form's error states: the API's own messages beside the fields they are about
// (announced to assistive technology), general ones in an alert, what was typed kept
// (never a password); and the forms used with the keyboard alone.
import { email, expect, run } from "./lib.mjs";

/// The error shown for `label`'s field, as assistive technology announces it.
async function fieldError(page, label) {
  const input = page.getByLabel(label, { exact: true });
  expect((await input.getAttribute("aria-invalid")) === "true", `${label} is not marked invalid`);
  const ids = (await input.getAttribute("aria-describedby")).split(" ");
  const error = ids.find((id) => id.endsWith("-error"));
  return page.locator(`#${error}`).innerText();
}

await run("forms", async (t) => {
  const shopper = await t.shopper("shopper");
  const page = shopper.page;

  t.step("sign up: a bad email and a short password");
  await shopper.goto("/signup");
  await page.getByLabel("Email").fill("not-an-email");
  await page.getByLabel("Password").fill("ab");
  await page.getByRole("button", { name: "Create account" }).click();
  await page.locator(".field.invalid").first().waitFor();
  expect((await fieldError(page, "Email")) === "Email must be valid", "no email error");
  expect((await fieldError(page, "Password")).includes("between 4 and 128"), "no password error");
  expect((await page.getByLabel("Email").inputValue()) === "not-an-email", "the email typed was lost");
  expect((await page.getByLabel("Password").inputValue()) === "", "the password was sent back");
  await t.check(shopper, "signup-errors");

  t.step("sign up, then the same email again");
  const address = email("forms");
  await shopper.signUp(address);
  await shopper.signOut();
  await shopper.goto("/signup");
  await page.getByLabel("Email").fill(address);
  await page.getByLabel("Password").fill("pass1234");
  await page.getByRole("button", { name: "Create account" }).click();
  expect((await page.getByRole("alert").innerText()).includes("Email in use"), "no 'Email in use'");

  t.step("sign in with the keyboard alone: the focus order, then a wrong password");
  await shopper.goto("/signin");
  const order = [];
  for (let i = 0; i < 11; i++) {
    await page.keyboard.press("Tab");
    order.push(await page.evaluate(() => {
      const el = document.activeElement;
      return el.labels?.[0]?.innerText || el.innerText || el.value;
    }));
  }
  const expected = ["Skip to content", "boxoffice", "Tickets", "Shop", "Cart", "Sign in", "Sign up", "Email", "Password", "Sign in", "Create an account"];
  expect(JSON.stringify(order) === JSON.stringify(expected), `focus order ${JSON.stringify(order)}`);
  await page.getByLabel("Email").focus();
  await page.keyboard.type(address);
  await page.keyboard.press("Tab");
  await page.keyboard.type("wrong-password");
  await page.keyboard.press("Enter");
  await page.getByRole("alert").waitFor();
  expect((await page.getByRole("alert").innerText()) === "Invalid credentials", "no 'Invalid credentials'");
  await t.check(shopper, "signin-error");
  await page.getByLabel("Password").fill("pass1234");
  await page.getByLabel("Password").press("Enter");
  await page.waitForURL(/\/$/);

  t.step("sell: no title and a price of 0, then a price that is not a number");
  await shopper.goto("/sell");
  await page.getByLabel("Price").fill("0");
  await page.getByRole("button", { name: "Put on sale" }).click();
  await page.locator(".field.invalid").first().waitFor();
  expect((await fieldError(page, "Title")) === "Title is required", "no title error");
  expect((await fieldError(page, "Price")) === "Price must be greater than 0", "no price error");
  await t.check(shopper, "sell-errors");
  await page.getByLabel("Title").fill("Opera");
  await page.getByLabel("Price").fill("ten");
  await page.getByRole("button", { name: "Put on sale" }).click();
  expect((await fieldError(page, "Price")).startsWith("Price must be"), "no error for a price in words");
  expect((await page.getByLabel("Title").inputValue()) === "Opera", "the title typed was lost");

  t.step("edit: the same rules, then a good edit");
  const ticketPath = await shopper.sell("Opera", "30");
  await page.getByRole("link", { name: "Edit it" }).click();
  expect((await page.getByLabel("Price").inputValue()) === "30", "the edit form is not filled in");
  await page.getByLabel("Price").fill("-1");
  await page.getByRole("button", { name: "Save" }).click();
  expect((await fieldError(page, "Price")) === "Price must be greater than 0", "no price error on edit");
  await page.getByLabel("Title").fill("Opera gala");
  await page.getByLabel("Price").fill("35");
  await page.getByRole("button", { name: "Save" }).click();
  await page.waitForURL(BASE_RE(ticketPath));
  expect((await shopper.heading()) === "Opera gala" && (await shopper.main()).includes("$35.00"), "the edit did not show");

  t.step("pay: a declined card, then cancel");
  const buyer = await t.shopper("buyer");
  await buyer.signUp(email("buyer"));
  await buyer.goto(ticketPath);
  await buyer.buy("$35.00");
  await buyer.page.getByLabel("Card token").fill("tok_chargeDeclined");
  await buyer.page.getByRole("button", { name: "Pay $35.00" }).click();
  await buyer.page.getByRole("alert").waitFor();
  expect((await buyer.page.getByRole("alert").innerText()).toLowerCase().includes("declined"), "no decline message");
  expect((await buyer.page.getByLabel("Card token").inputValue()) === "tok_chargeDeclined", "the token typed was lost");
  await t.check(buyer, "order-declined");
  await buyer.page.getByRole("button", { name: "Cancel order" }).click();
  await buyer.page.getByText("Order cancelled").waitFor();
  expect((await buyer.page.locator("[data-status]").innerText()) === "Cancelled", "not cancelled");
});

function BASE_RE(path) {
  return new RegExp(`${path.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}$`);
}
