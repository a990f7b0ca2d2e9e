#!/usr/bin/env bash
# make demo: all five services on loopback, a few job queue entries shown running live, then
# the run log; then the ERP side: items, stock, sales orders of Shopify orders, and a batch
# posting job; then the Shopify sandbox (shopify-sim): a seeded shop, queries, an order and a
# merchant's refund. Needs DATABASE_URL (scripts/with-pg.sh provides a throwaway cluster).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
BIN=${SHOPSYNC_BIN_DIR:-$ROOT/target/debug}
LOGS=$ROOT/target/demo
mkdir -p "$LOGS"
: "${DATABASE_URL:?DATABASE_URL must be set (make demo sets it)}"

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}
say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

# Services authenticate each other with a shared token; it never appears in logs.
SHOPSYNC_SERVICE_TOKEN=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
export SHOPSYNC_SERVICE_TOKEN
# Shop credentials are sealed with this keyring (a Kubernetes Secret in a deployment).
SHOPSYNC_SECRET_KEYS="demo-1=$(head -c 32 /dev/urandom | base64)"
export SHOPSYNC_SECRET_KEYS
export RUST_LOG=${RUST_LOG:-info}

PIDS=()
stop_all() {
  for p in "${PIDS[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap stop_all EXIT INT TERM

declare -A URL
SPORT=$(free_port)
PPORT=$(free_port)
for svc in order-sync product-sync inventory-sync posting; do
  port=$(free_port)
  [ "$svc" = posting ] && port=$PPORT
  # Sync runs get their shop from the scheduler's Shops API and the ERP from posting.
  SHOPSYNC_LISTEN=127.0.0.1:$port SHOPSYNC_DATABASE_URL=$DATABASE_URL \
    SHOPSYNC_SHOPS_URL=http://127.0.0.1:$SPORT SHOPSYNC_POSTING_URL=http://127.0.0.1:$PPORT \
    "$BIN/shopsync-$svc" >"$LOGS/$svc.log" 2>&1 &
  PIDS+=($!)
  URL[$svc]=http://127.0.0.1:$port
done

SHOPSYNC_LISTEN=127.0.0.1:$SPORT SHOPSYNC_DATABASE_URL=$DATABASE_URL SHOPSYNC_REPLICA_NAME=demo \
  SHOPSYNC_WORKERS__ORDER_SYNC=${URL[order-sync]} SHOPSYNC_WORKERS__PRODUCT_SYNC=${URL[product-sync]} \
  SHOPSYNC_WORKERS__INVENTORY_SYNC=${URL[inventory-sync]} SHOPSYNC_WORKERS__POSTING=${URL[posting]} \
  "$BIN/shopsync-scheduler" >"$LOGS/scheduler.log" 2>&1 &
PIDS+=($!)
export SHOPSYNC_SCHEDULER_URL=http://127.0.0.1:$SPORT

ss() { "$BIN/shopsync" "$@"; }
for _ in $(seq 100); do ss jobs list >/dev/null 2>&1 && break; sleep 0.1; done
say "five services up (logs in target/demo/): scheduler at $SHOPSYNC_SCHEDULER_URL"

say "a shop: its settings, its credentials sealed (shown only as set, with their key id)"
SHOPSYNC_SHOP_ACCESS_TOKEN=shpat_demo_token ss shops create demo-shop \
  --domain demo-shop.myshopify.com --settings '{"auto_release": true}' | head -n 5

id_of() { grep -oE '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}' | head -n 1; }

say "a recurring entry: every 10 s on weekdays and weekends, Copenhagen time"
# (Output is captured, then printed: `tee /dev/stderr` would truncate a redirected log.)
OUT=$(ss jobs create --task test --shop demo-shop --description "heartbeat sync every 10 s" \
  --params '{"service":"inventory_sync","steps":4,"step_ms":150}' \
  --every 10s --tz Europe/Copenhagen)
echo "$OUT"
REC=$(echo "$OUT" | id_of)

say "a busy category: two posting jobs in category POSTING, only one runs at a time"
A=$(ss jobs create --task test --shop demo-shop --description "post batch A" --category POSTING \
  --params '{"service":"posting","steps":10,"step_ms":300}' | id_of)
B=$(ss jobs create --task test --shop demo-shop --description "post batch B" --category POSTING \
  --priority high --params '{"service":"posting","steps":5,"step_ms":200}' | id_of)
sleep 0.5
ss jobs list

say "a one-off sync that fails once and is retried after 1 s, followed live"
ONE=$(ss jobs create --task test --shop demo-shop --description "one-off product sync" \
  --max-attempts 3 --rerun-delay 1s \
  --params '{"service":"product_sync","steps":12,"step_ms":150,"fail_attempts":1}' | id_of)
ss jobs watch "$ONE"

say "run the recurring entry now, outside its schedule, and follow it"
ss jobs run-now "$REC" --wait

say "both POSTING jobs done, one after the other"
ss jobs watch "$A"
ss jobs watch "$B"

say "waiting for the recurring entry's next fire"
sleep 11
ss jobs list

say "the run log"
ss jobs log --limit 20

say "set the recurring entry on hold"
ss jobs hold "$REC"

export SHOPSYNC_POSTING_URL=${URL[posting]}
say "the ERP side (posting service at $SHOPSYNC_POSTING_URL): master data and stock"
ss locations create MAIN --name "Main warehouse" --prevent-negative-stock
ss items create MUG-1 --description "Stoneware mug" --price 1250 --cost 400 --currency EUR
ss items create TEE-1 --description "Organic tee" --price 2400 --cost 900 --currency EUR
ss items adjust MUG-1 --location MAIN --qty 40 --key demo-receipt-1
ss items adjust TEE-1 --location MAIN --qty 2 --key demo-receipt-2
ss customers create C1 --name "Ada Lovelace" --email ada@example.com --currency EUR
ss items list

say "sales orders of three Shopify orders (#1002 asks for more tees than there are)"
ss orders create --customer C1 --shop demo-shop --release --shopify-order-id 1001 \
  --shopify-order-no '#1001' --line MUG-1:2 --line TEE-1:1 >/dev/null
ss orders create --customer C1 --shop demo-shop --release --shopify-order-id 1002 \
  --shopify-order-no '#1002' --line TEE-1:5 >/dev/null
ss orders create --customer C1 --shop demo-shop --release --shopify-order-id 1003 \
  --shopify-order-no '#1003' --line MUG-1:6:MAIN:1000 >/dev/null
echo "the same Shopify order again gives the same document:"
ss orders create --customer C1 --shop demo-shop --shopify-order-id 1001 --line MUG-1:1
ss orders list

say "batch-post them as a job: the order short of stock is reported, the others post"
POST=$(ss jobs create --task batch-post-sales-orders --shop demo-shop --description "post Shopify orders" \
  --params '{"ship":true,"invoice":true,"released_only":true,"shopify_order_no_not_blank":true}' | id_of)
ss jobs watch "$POST"
ss jobs show "$POST"
ss orders list
ss items show TEE-1

say "the Shopify sandbox: shopify-sim with a seeded shop, answering Shopify's Admin API"
SIM=127.0.0.1:$(free_port)
SIM_TOKEN=shpat_demo_$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')
"$BIN/shopify-sim" --listen "$SIM" >"$LOGS/shopify-sim.log" 2>&1 &
PIDS+=($!)
for _ in $(seq 100); do rc=0; curl -s -o /dev/null "http://$SIM/sim/shops/none" || rc=$?; [ "$rc" -ne 7 ] && break; sleep 0.1; done
curl -sf "http://$SIM/sim/shops" -H 'Content-Type: application/json' \
  -d "{\"name\":\"demo-shop\",\"access_token\":\"$SIM_TOKEN\"}" >/dev/null
curl -sf "http://$SIM/sim/shops/demo-shop/seed" -H 'Content-Type: application/json' \
  -d '{"seed":7,"products":20,"customers":10,"orders":30,"companies":2}'; echo
gql() {
  curl -s "http://$SIM/admin/api/2026-10/graphql.json" -H "X-Shopify-Access-Token: $SIM_TOKEN" \
    -H 'Content-Type: application/json' -d "$1"; echo
}
echo "a query, with its cost and the shop's bucket:"
gql '{"query":"{ products(first: 2, sortKey: TITLE) { nodes { title variants(first: 1) { nodes { sku price } } media(first: 1) { nodes { status } } } } }"}'
echo "a document with an unknown field is refused as Shopify refuses it:"
gql '{"query":"{ shop { nmae } }"}'
SKU=$(gql '{"query":"{ products(first: 1) { nodes { variants(first: 1) { nodes { sku } } } } }"}' | grep -oE '"sku":"[^"]+"' | head -n 1 | cut -d'"' -f4)
echo "a customer places an order for $SKU, then the merchant refunds part of it:"
OUT=$(curl -sf "http://$SIM/sim/shops/demo-shop/orders" -H 'Content-Type: application/json' \
  -d "{\"lines\":[{\"sku\":\"$SKU\",\"quantity\":2}]}")
echo "$OUT"
ORDER=$(echo "$OUT" | grep -oE 'shopify/Order/[0-9]+' | cut -d/ -f3)
curl -sf -X PATCH "http://$SIM/sim/shops/demo-shop/orders/$ORDER" -H 'Content-Type: application/json' \
  -d '{"tags":["gift"],"refund":"5.00"}'; echo

say "order sync, the main job: the sandbox shop's orders become sales documents and are posted"
ss locations create WEB --name "Web shop warehouse"
SKUS=$(gql '{"query":"{ productVariants(first: 100) { nodes { sku } } }"}' | grep -oE '"sku":"[^"]+"' | cut -d'"' -f4 | sort -u)
MISSING=$(gql '{"query":"{ orders(first: 1, sortKey: CREATED_AT) { nodes { lineItems(first: 1) { nodes { sku } } } } }"}' | grep -oE '"sku":"[^"]+"' | head -n 1 | cut -d'"' -f4)
n=0
declare -A ITEM_OF
for s in $SKUS; do
  n=$((n + 1))
  [ "$s" = "$MISSING" ] && continue
  ITEM_OF[$s]=WEB-$n
  ss items create "WEB-$n" --description "Web item $s" --price 1000 --currency EUR --sku "$s" >/dev/null
done
echo "the ERP has an item for every SKU of the shop but $MISSING"
ss items create SHIP --description "Shipping charges" --price 0 --currency EUR >/dev/null
ss customers create WEBTPL --name "Template: web shop customers" --currency EUR >/dev/null
LOC=$(gql '{"query":"{ locations(first: 1) { nodes { id } } }"}' | grep -oE 'gid://shopify/Location/[0-9]+' | head -n 1)
SHOPSYNC_SHOP_ACCESS_TOKEN=$SIM_TOKEN ss shops create web-shop --domain "http://$SIM" --settings \
  "{\"allow_background_syncs\":false,\"auto_create_customers\":true,\"customer_template\":\"WEBTPL\",\"shipping_charges_item\":\"SHIP\",\"auto_release\":true,\"send_shipping_confirmation\":true,\"archive_processed_orders\":true,\"locations\":[{\"shopify_location_id\":\"$LOC\",\"erp_location_filter\":\"WEB\"}]}" | head -n 3
export SHOPSYNC_ORDER_SYNC_URL=${URL[order-sync]}
say "cues before (order-sync at $SHOPSYNC_ORDER_SYNC_URL)"
ss cues --shop web-shop
say "sync orders now: fully paid ones (the shop syncs in the foreground: followed to the end)"
ss sync sync-orders --shop web-shop --params '{"only_fully_paid": true}'
say "create sales orders from them"
ss sync create-sales-orders --shop web-shop
ss cues --shop web-shop
ss cues show unmapped-products --shop web-shop
say "map $MISSING in the ERP, then one retry for the whole group"
ss items create WEB-0 --description "Web item $MISSING" --price 1000 --currency EUR --sku "$MISSING" >/dev/null
RETRY=$(ss cues retry unmapped-products "unmapped_product:$MISSING" --shop web-shop)
echo "$RETRY"
ss jobs watch "$(echo "$RETRY" | id_of)"
FIRST=$(ss orders list --shop web-shop --limit 1 | grep -oE 'SO[0-9]+' | head -n 1)
say "the warehouse enters how $FIRST travels"
ss orders track "$FIRST" --company "DHL Express" --number JD014600006281 \
  --url "https://www.dhl.com/track?id=JD014600006281" | grep -i tracking
say "batch-post the shop's sales orders (shipped and invoiced)"
ss sync batch-post-sales-orders --shop web-shop \
  --params '{"ship":true,"invoice":true,"shopify_order_no_not_blank":true}'
ss cues --shop web-shop
say "the posted shipments go back to Shopify as fulfillments, with tracking, exactly once"
ss sync sync-shipments --shop web-shop
gql '{"query":"{ orders(first: 3, sortKey: CREATED_AT, query: \"financial_status:paid\") { nodes { name displayFulfillmentStatus fulfillments(first: 2) { name trackingInfo { company number } } } } }"}'
echo "a second run finds nothing left to send:"
ss sync sync-shipments --shop web-shop

say "a customer sends a unit back: the merchant refunds it in Shopify"
PAID=$(gql '{"query":"{ orders(first: 1, sortKey: CREATED_AT, query: \"financial_status:paid\") { nodes { id lineItems(first: 1) { nodes { sku } } } } }"}')
RORDER=$(echo "$PAID" | grep -oE 'shopify/Order/[0-9]+' | head -n 1 | cut -d/ -f3)
RSKU=$(echo "$PAID" | grep -oE '"sku":"[^"]+"' | head -n 1 | cut -d'"' -f4)
curl -sf -X PATCH "http://$SIM/sim/shops/demo-shop/orders/$RORDER" -H 'Content-Type: application/json' \
  -d "{\"refund_lines\":[{\"sku\":\"$RSKU\",\"quantity\":1,\"restock\":true}]}" | grep -oE '"financial_status":"[^"]+"'
say "the next order sync makes it a credit memo, and closes the paid, fulfilled, invoiced orders in Shopify"
ss sync sync-orders --shop web-shop --params '{"only_fully_paid": true}'
ss orders list --shop web-shop --limit 20 | grep -E 'NO|SCR' || true
say "batch-post the invoices and credit memos"
ss sync batch-post-sales-invoices --shop web-shop --params '{"shopify_order_no_not_blank":true}'
gql '{"query":"{ orders(first: 5, query: \"status:closed\") { nodes { name closed displayFinancialStatus } } }"}'
say "stock to Shopify (inventory-sync): a preview first, nothing written"
export SHOPSYNC_INVENTORY_SYNC_URL=${URL[inventory-sync]}
ss items adjust "${ITEM_OF[$RSKU]:-WEB-0}" --location WEB --qty 100 --key demo-receipt-web-1
ss stock diff --shop web-shop | head -n 6
say "the reconciliation links the shop's variants to ERP items by SKU and writes only what differs"
ss sync sync-inventory --shop web-shop
V=$(gql "{\"query\":\"{ productVariants(first: 1, query: \\\"sku:$RSKU\\\") { nodes { sku inventoryItem { inventoryLevel(locationId: \\\"$LOC\\\") { quantities(names: [\\\"on_hand\\\", \\\"available\\\", \\\"committed\\\"]) { name quantity } } } } } }\"}")
echo "$V"
say "an ERP stock receipt reaches Shopify within seconds, without a job (the stock follower)"
BEFORE=$(echo "$V" | grep -oE '"name":"on_hand","quantity":-?[0-9]+' | grep -oE -- '-?[0-9]+$')
ss items adjust "${ITEM_OF[$RSKU]:-WEB-0}" --location WEB --qty 5 --key demo-receipt-web-2
for _ in $(seq 100); do
  V=$(gql "{\"query\":\"{ productVariants(first: 1, query: \\\"sku:$RSKU\\\") { nodes { inventoryItem { inventoryLevel(locationId: \\\"$LOC\\\") { quantities(names: [\\\"on_hand\\\"]) { quantity } } } } } }\"}")
  NOW=$(echo "$V" | grep -oE '"quantity":-?[0-9]+' | head -n 1 | grep -oE -- '-?[0-9]+$')
  [ -n "$BEFORE" ] && [ "$NOW" = "$((BEFORE + 5))" ] && break
  sleep 0.1
done
echo "$RSKU on hand in Shopify: ${BEFORE:-?} -> ${NOW:-?}"

say "cues after"
ss cues --shop web-shop
ss orders list --shop web-shop --limit 10

echo
echo "Demo done. Services stop now (SIGTERM drains them)."
