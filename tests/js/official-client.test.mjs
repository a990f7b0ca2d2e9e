// Shopify's official Admin API client (@shopify/admin-api-client), unchanged, against
// shopify-sim. The Rust test crates/shopify-sim/tests/official_js_client.rs starts the
// simulator and runs this with SIM_URL (http://127.0.0.1:PORT) and SIM_TOKEN.
//
// The client always speaks https to `storeDomain`; a plain-http sandbox is reached through
// its documented `customFetchApi` hook, which only swaps the scheme back.
import { test } from "node:test";
import assert from "node:assert/strict";
import { createAdminApiClient } from "@shopify/admin-api-client";

const url = process.env.SIM_URL;
const token = process.env.SIM_TOKEN;

const client = createAdminApiClient({
  storeDomain: url,
  apiVersion: "2026-10",
  accessToken: token,
  customFetchApi: (u, init) => fetch(u.replace(/^https:/, "http:"), init),
});

test("a query: the shop", async () => {
  const { data, errors, extensions } = await client.request(`query { shop { name myshopifyDomain } }`);
  assert.equal(errors, undefined);
  assert.equal(data.shop.name, "jsdemo");
  assert.equal(data.shop.myshopifyDomain, "jsdemo.myshopify.com");
  assert.equal(extensions.cost.throttleStatus.maximumAvailable, 2000);
});

test("a query with variables: a page of products", async () => {
  const { data, errors } = await client.request(
    `query Products($first: Int!) { products(first: $first) { nodes { id title } pageInfo { hasNextPage endCursor } } }`,
    { variables: { first: 5 } },
  );
  assert.equal(errors, undefined);
  assert.equal(data.products.nodes.length, 5);
  assert.match(data.products.nodes[0].id, /^gid:\/\/shopify\/Product\/\d+$/);
  assert.equal(data.products.pageInfo.hasNextPage, true);
});

test("a mutation: customerCreate, then its userErrors on a duplicate", async () => {
  const mutation = `mutation Create($input: CustomerInput!) {
    customerCreate(input: $input) { customer { id defaultEmailAddress { emailAddress } } userErrors { field message } }
  }`;
  const input = { firstName: "Ada", lastName: "Lovelace", email: "ada@example.com" };
  const first = await client.request(mutation, { variables: { input } });
  assert.equal(first.errors, undefined);
  assert.deepEqual(first.data.customerCreate.userErrors, []);
  assert.equal(first.data.customerCreate.customer.defaultEmailAddress.emailAddress, "ada@example.com");
  const again = await client.request(mutation, { variables: { input } });
  assert.equal(again.data.customerCreate.customer, null);
  assert.deepEqual(again.data.customerCreate.userErrors, [{ field: ["email"], message: "Email has already been taken" }]);
});

test("an invalid document comes back as graphQLErrors", async () => {
  const { errors } = await client.request(`query { shop { nmae } }`);
  assert.equal(errors.graphQLErrors[0].message, "Field 'nmae' doesn't exist on type 'Shop'");
});
