"""Marshmallow schemas, one module per API family.

`credentials`  the credentials API (/api/credentials/*)
`end_users`    the end-user API (/v1/end-users/*) and the workers' endpoint
"""
