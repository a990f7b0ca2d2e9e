#!/usr/bin/env python3
"""Extract the access scopes Shopify requires per root field and per type from the official
introspection dump (its non-standard `offline_scopes` section) into schema/shopify/scopes.json.

Usage: scripts/extract-scopes.py ../shared/shopify/admin_2026-10.json.gz > schema/shopify/scopes.json
"""
import gzip
import json
import sys

with gzip.open(sys.argv[1]) as f:
    items = json.load(f)["offline_scopes"]["items"]
out = {"fields": {}, "types": {}}
for i in items:
    entry = {"scopes": i["offlineScopes"], "access": i["requiredAccess"]}
    if not i["offlineScopes"]:
        continue
    if i["type"] == "field" and i["typeName"] in ("QueryRoot", "Mutation"):
        out["fields"][f'{i["typeName"]}.{i["fieldName"]}'] = entry
    elif i["type"] == "type":
        out["types"][i["typeName"]] = entry
json.dump(out, sys.stdout, indent=0, sort_keys=True)
sys.stdout.write("\n")
