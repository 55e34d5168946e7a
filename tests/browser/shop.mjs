// The goods shop, end to end: a seller lists a product (two in stock); a buyer finds it by
// searching, puts both in the cart while signed out, signs in at checkout (the cart comes
// along), chooses where to ship, checks out, pays with a test card, and sees the purchase
// paid and then dispatched; the product is then out of stock, and its buyer rates it.
import { email, eventually, expect, run } from "./lib.mjs";

/// How long the shipment may take to be dispatched after the payment.
const DISPATCH_MS = 60_000;

await run("shop", async (t) => {
  const stamp = Date.now().toString(36);
  const name = `Blue teapot ${stamp}`;
  const sku = `POT-${stamp}`.toUpperCase();

  t.step("the seller signs up and lists a product with two in stock");
  const seller = await t.shopper("seller");
  await seller.goto("/shop");
  await t.check(seller, "shop-signed-out");
  await seller.signUp(email("seller"));
  await seller.page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Shop" }).click();
  await seller.page.getByRole("link", { name: "Sell a product" }).click();
  await seller.page.waitForURL(/\/shop\/sell$/);
  await t.check(seller, "sell-product");
  await seller.page.getByLabel("SKU").fill(sku);
  await seller.page.getByLabel("Name").fill(name);
  await seller.page.getByLabel("Description").fill("Holds four cups of tea.");
  await seller.page.getByLabel("Price").fill("24.50");
  await seller.page.getByLabel("Stock").fill("2");
  await seller.page.getByLabel("Categories").fill("kitchen, gifts");
  await seller.page.getByRole("button", { name: "List product" }).click();
  await seller.page.waitForURL(/\/shop\/products\/[^/]+$/);
  const productPath = new URL(seller.page.url()).pathname;
  expect((await seller.heading()) === name, `the new product's page is not "${name}"`);
  const own = await seller.main();
  expect(own.includes("This is your product.") && own.includes("2 left"), `the seller's view: ${own}`);
  await t.check(seller, "product-own");

  t.step("the buyer has an account but is signed out; they search the shop");
  const buyer = await t.shopper("buyer");
  const buyerEmail = email("buyer");
  await buyer.signUp(buyerEmail);
  await buyer.signOut();
  await buyer.goto("/shop");
  await buyer.page.getByLabel("Search the shop").fill(stamp);
  await buyer.page.getByRole("button", { name: "Search" }).click();
  await buyer.page.waitForURL(/\/shop\?q=/);
  const found = buyer.page.getByRole("link", { name });
  await found.waitFor();
  const card = await buyer.page.locator("li.product", { hasText: name }).innerText();
  expect(card.includes("$24.50") && card.includes("In stock"), `the card says: ${card}`);
  await t.check(buyer, "shop");
  await found.click();
  expect(new URL(buyer.page.url()).pathname === productPath, "the card links elsewhere");
  await t.check(buyer, "product");

  t.step("the buyer puts both in the cart, signed out");
  await buyer.page.getByLabel("Quantity").fill("2");
  await buyer.page.getByRole("button", { name: "Add to cart" }).click();
  await buyer.page.waitForURL(/\/cart$/);
  const cookies = await buyer.context.cookies();
  expect(cookies.some((c) => c.name === "cart"), "the visitor got no cart cookie");
  const visiting = await buyer.main();
  expect(visiting.includes(name) && visiting.includes("$49.00"), `the visitor's cart: ${visiting}`);
  await t.check(buyer, "cart-signed-out");

  t.step("checking out asks them to sign in, and the cart comes along");
  await buyer.page.getByRole("button", { name: "Check out" }).click();
  await buyer.page.waitForURL(/\/signin\?next=%2Fcart$/);
  await buyer.page.getByLabel("Email").fill(buyerEmail);
  await buyer.page.getByLabel("Password").fill("pass1234");
  await buyer.page.getByRole("button", { name: "Sign in" }).click();
  await buyer.page.waitForURL(/\/cart$/);
  const header = await buyer.page.locator("header").innerText();
  expect(header.includes(`Signed in as ${buyerEmail}`), "the buyer is not signed in");
  expect((await buyer.main()).includes(name), "the cart did not follow the buyer");
  const left = await buyer.context.cookies();
  expect(!left.some((c) => c.name === "cart" && c.value), "the visitor's cart cookie outlived the merge");

  t.step("the buyer chooses where to ship and checks out");
  const city = buyer.page.getByLabel("Ship to");
  await city.selectOption({ index: 1 });
  const cityName = (await city.locator("option").nth(1).innerText()).split(",")[0];
  await buyer.page.getByRole("button", { name: "Ship here" }).click();
  await buyer.page.getByText("Ships to").waitFor();
  const shipping = await buyer.main();
  expect(shipping.includes(cityName), `the cart does not ship to ${cityName}: ${shipping}`);
  expect(shipping.includes("Tax ("), "the cart shows no tax");
  await t.check(buyer, "cart");
  await buyer.page.getByRole("button", { name: "Check out" }).click();
  await buyer.page.waitForURL(/\/purchases\/[^/]+$/);
  const purchasePath = new URL(buyer.page.url()).pathname;
  const held = await buyer.main();
  expect(held.includes(name) && held.includes("Time left to pay"), `the purchase: ${held}`);
  await t.check(buyer, "purchase");

  t.step("the buyer pays with a test card and the purchase completes");
  expect((await buyer.page.getByLabel("Card token").inputValue()) === "tok_visa", "no test token offered");
  await buyer.page.getByRole("button", { name: /^Pay \$/ }).click();
  await buyer.page.getByText("Payment confirmed").waitFor();
  expect(new URL(buyer.page.url()).pathname === `${purchasePath}/paid`, "not on the confirmation");
  await t.check(buyer, "purchase-paid");

  t.step("the purchase is dispatched");
  await buyer.goto(purchasePath);
  await eventually("the shipment", DISPATCH_MS, async () => {
    await buyer.page.reload();
    return (await buyer.page.locator("[data-status]").innerText()) === "Dispatched";
  });
  expect((await buyer.main()).includes("shipment"), "the shipment is not named");
  await t.check(buyer, "purchase-dispatched");
  await buyer.page.getByRole("link", { name: "My purchases" }).first().click();
  const row = await buyer.page.locator("ul.orders li", { hasText: name }).innerText();
  expect(row.includes("Dispatched"), `my purchases say: ${row}`);
  await t.check(buyer, "my-purchases");

  t.step("the product is out of stock, and its buyer rates it");
  await buyer.goto(productPath);
  await eventually("the stock to be taken", 20_000, async () => {
    await buyer.page.reload();
    return (await buyer.main()).includes("Out of stock");
  });
  expect((await buyer.page.getByRole("button", { name: "Add to cart" }).count()) === 0, "a sold-out product can be added");
  // Ratings learns who bought what from the purchase's events: until then it refuses, with
  // its own words beside the form, and the buyer tries again.
  await eventually("the rating to be taken", 20_000, async () => {
    await buyer.page.getByLabel("5 stars").check();
    await Promise.all([
      buyer.page.waitForEvent("framenavigated"),
      buyer.page.getByRole("button", { name: "Rate" }).click(),
    ]);
    await buyer.page.waitForLoadState();
    const answer = await buyer.main();
    expect(!answer.includes("That did not work"), `rating failed: ${answer}`);
    return answer.includes("5.0 out of 5 (1 rating)");
  });
  expect(new URL(buyer.page.url()).pathname === productPath, "rating leads elsewhere");
  expect(await buyer.page.getByLabel("5 stars").isChecked(), "the buyer's own stars are not shown");
  await t.check(buyer, "product-rated");
});
