"""One module per resource; each exposes register(bp), which declares its routes through api.openapi.route."""
