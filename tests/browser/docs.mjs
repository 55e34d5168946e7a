// The API's docs page (/api/docs): the OpenAPI document rendered by the shop itself, with
// no request leaving it, readable and accessible at both widths.
import { expect, run } from "./lib.mjs";

await run("docs", async (t) => {
  t.step("a developer opens the API docs");
  const dev = await t.shopper("developer");
  const response = await dev.goto("/api/docs");
  expect(response.status() === 200, `/api/docs answered ${response.status()}`);
  const main = await dev.main();
  for (const route of ["/api/users/signup", "/api/tickets", "/api/orders", "/api/payments", "/health"]) {
    expect(main.includes(route), `the docs page does not list ${route}`);
  }
  await t.check(dev, "api-docs");

  t.step("the document it renders is one link away");
  const link = dev.page.getByRole("link", { name: /openapi\.json/ }).first();
  expect((await link.count()) === 1, "no link to the OpenAPI document");
  const href = await link.getAttribute("href");
  const document = await dev.context.request.get(new URL(href, dev.page.url()).toString());
  expect(document.status() === 200, `the OpenAPI document answered ${document.status()}`);
  const openapi = await document.json();
  expect(openapi.openapi.startsWith("3.1"), `not OpenAPI 3.1: ${openapi.openapi}`);
});
