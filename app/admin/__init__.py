"""How Kartoteka extends Flask-AppBuilder: the machinery behind the declarations.

A screen is declared in app/views.py (columns, labels, filters, tabs) and the REST
API in app/api.py; the rules they call live in app/<domain>.py. This package holds
what makes a declaration work: the base screen (base.py: the access policy per
request, lists from one query plan, the save pipeline), the customer card
(card.py), the list table (listing.py, widgets.py, options.py, links.py), form
fields that read the user's language (fields.py), choosing a customer or an order
by typing (lookups.py), the data layer (datamodel.py), page rendering
(rendering.py), request hygiene and error pages (requests.py, errorpages.py), the
security manager, sessions and tokens (security.py, sessions.py, tokens.py,
headers.py), the API's base and its OpenAPI document (api.py, openapi.py), and the
fence of the libraries' private methods it relies on (overrides.py).
"""
