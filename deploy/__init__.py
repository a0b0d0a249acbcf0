"""Running and deploying credsvc: `make run`'s supervisor (deploy.run), the repository's `.env`
(deploy.envfile), throwaway PostgreSQL/Redis servers (deploy.localdb), the lock file
(deploy.lock), the extension package (deploy.package_extension) and the Directus app
(deploy.directus). Run its modules with `python -m`, from the repository root."""
