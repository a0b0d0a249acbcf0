"""The Directus app: Node 22 + Directus from package-lock.json, credsvc's schema (schema.yaml,
made by build_schema), the rewrap guard triggers (guards.mjs), the roles (policies, provision),
the process types (app: `python -m deploy.directus web|release|schema-apply|env`) and the
deployable bundle (`python -m deploy.directus.bundle DEST`)."""
