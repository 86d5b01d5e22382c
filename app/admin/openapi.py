"""The API's OpenAPI document, as the API really answers.

Flask-AppBuilder generates the document from the marshmallow schemas and the
YAML in its methods' docstrings; as generated it described amounts as numbers
(they are decimal strings), ids as strings (they are integers), listed fields a
role never receives as required, left out 403 on every operation and 404 on most,
and described 422 as a text (it is a text or the refused fields' messages). The
functions below correct it; a Schemathesis run in the test suite
(tests/test_api_fuzz.py) checks every answer against it.
"""

from __future__ import annotations

import copy

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import current_app, request
from flask_appbuilder.api import BaseApi, expose, protect, safe
from flask_appbuilder.api.manager import OpenApi, resolver
from flask_babel import gettext as _

from .. import access
from .api import Amount, PolicyApi, ScopedRelated, UtcDateTime
from .errorpages import ERROR_MESSAGES

AMOUNT_PATTERN = r"^-?\d+\.\d+$"

MESSAGE = {"type": "object", "properties": {"message": {"type": "string"}}, "required": ["message"]}
REFUSED = {
    "type": "object",
    "properties": {
        "message": {
            "oneOf": [
                {"type": "string"},
                {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
            ]
        }
    },
    "required": ["message"],
}


FIELD_INFO = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "label": {"type": "string"},
        "description": {"type": "string"},
        "type": {"type": "string"},
        "required": {"type": "boolean"},
        "unique": {"type": "boolean"},
        "validate": {"type": "array", "items": {"type": "string"}},
        "count": {"type": "integer"},
        "values": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"id": {"type": "integer"}, "value": {"type": "string"}},
                "required": ["id", "value"],
            },
        },
    },
    "required": ["name", "label", "type", "required"],
}


def create_spec(version: str) -> APISpec:
    """FAB's APISpec, with Kartoteka's fields described as they are sent."""

    plugin = MarshmallowPlugin(schema_name_resolver=resolver)
    spec = APISpec(
        title=current_app.appbuilder.app_name,
        version=version,
        openapi_version="3.0.2",
        info={"description": describe_api()},
        plugins=[plugin],
        servers=[{"url": request.script_root or "/"}],
    )
    plugin.map_to_openapi_type(Amount, "string", "decimal")
    plugin.map_to_openapi_type(UtcDateTime, "string", "date-time")
    plugin.map_to_openapi_type(ScopedRelated, "integer", None)

    def kartoteka_properties(self, field, ret):
        if isinstance(field, Amount):
            ret.pop("minimum", None)
            ret.pop("maximum", None)
            ret["pattern"] = AMOUNT_PATTERN
            ret["description"] = _("Сумма: десятичная строка с копейками («1500.00»); принимается и число.")
        elif isinstance(field, UtcDateTime):
            ret["description"] = _(
                "Момент в UTC со смещением («2026-11-20T06:00:00+00:00»); без смещения — время клиники."
            )
        elif isinstance(field, ScopedRelated):
            ret["description"] = _("Номер связанной записи среди доступных вам.")
        if "enum" in ret and getattr(field, "allow_none", False) and None not in ret["enum"]:
            ret["enum"] = [*ret["enum"], None]
            ret["nullable"] = True
        return {}

    plugin.converter.add_attribute_function(kartoteka_properties)
    return spec


def describe_api() -> str:
    return _(
        "REST API Картотеки. Вход — сессия браузера (cookie) или токен. Моменты — в UTC со смещением, "
        "суммы — десятичными строками, связи — номерами записей. Поля, которые роль видит скрытыми, "
        "приходят замаскированными («+7 *** ***-45-67»), скрытые не приходят. Ошибки — в поле message "
        "на языке пользователя: 401 — нужен вход, 403 — нет прав (или поле недоступно для изменения), "
        "404 — записи нет среди доступных, 422 — данные не приняты (текст или сообщения по полям)."
    )


def describe(document: dict, apis) -> dict:
    """Correct FAB's generated ``document`` of ``apis`` (see the module's docstring)."""

    components = document.setdefault("components", {})
    responses = components.setdefault("responses", {})
    for code in ("401", "403", "404", "500"):
        responses[code] = {
            "description": responses.get(code, {}).get("description", code),
            "content": {"application/json": {"schema": MESSAGE}},
        }
    for code, description in (("400", _("Запрос не понят")), ("422", _("Данные не приняты"))):
        responses[code] = {"description": description, "content": {"application/json": {"schema": REFUSED}}}
    components.setdefault("securitySchemes", {})["session"] = {
        "type": "apiKey",
        "in": "cookie",
        "name": current_app.config.get("SESSION_COOKIE_NAME", "session"),
        "description": _("Сессия входа через страницу /login/ (для записи нужен заголовок X-CSRFToken)."),
    }
    schemas = components.get("schemas", {})
    for api in apis:
        if not isinstance(api, PolicyApi):
            continue
        name = type(api).__name__
        sent = {}
        for kind in ("get", "get_list", "post", "put"):
            schema = schemas.get(f"{name}.{kind}")
            if schema is None:
                continue
            received = copy.deepcopy(schema) if kind in ("post", "put") else schema
            as_sent(received, api.datamodel.obj, schemas)
            if kind in ("post", "put"):
                schemas[f"{name}.{kind}.result"] = received
                sent[f"#/components/schemas/{name}.{kind}"] = f"#/components/schemas/{name}.{kind}.result"
            if kind == "post":  # what a new record's body carries besides its columns
                for field, described in api.extra_field_schemas().items():
                    schema.setdefault("properties", {})[field] = described
                    schema.setdefault("required", []).append(field)
        for path, operations in document.get("paths", {}).items():
            if not path.startswith(api.route_base + "/"):
                continue
            for method, operation in operations.items():
                complete_operation(path, method, operation, sent)
    for operations in document.get("paths", {}).values():
        for operation in operations.values():
            if isinstance(operation, dict) and "security" in operation:
                operation["security"] = [{"session": []}, *operation["security"]]
    return document


def as_sent(schema: dict, model, schemas: dict) -> None:
    """A schema of what the API sends: no field is required (a role may not receive
    it, a request may choose its columns), and a field under a field rule is a
    text (the policy may send it masked)."""
    schema.pop("required", None)
    for column, prop in list(schema.get("properties", {}).items()):
        if access.column_field(model, column) is not None:
            schema["properties"][column] = {
                "type": "string",
                "nullable": True,
                "description": _("Скрывается или маскируется по роли («+7 *** ***-45-67»)."),
            }
        elif "$ref" in prop:  # a related record, nested: its id
            nested = schemas.get(prop["$ref"].rsplit("/", 1)[-1])
            if nested is not None:
                nested.pop("required", None)
            schema["properties"][column] = {"allOf": [prop], "nullable": True}


def complete_operation(path: str, method: str, operation: dict, sent: dict) -> None:
    """Every answer an operation gives, with ids as the integers they are."""
    for parameter in operation.get("parameters", []):
        if parameter.get("in") == "path" and parameter.get("name") == "pk":
            parameter["schema"] = {"type": "integer", "minimum": 1}  # a record's number
    answers = operation.setdefault("responses", {})
    codes = {"400", "401", "403", "500"}
    if "{pk}" in path:
        codes.add("404")
    if method in ("post", "put", "delete") or path.endswith("/"):
        codes.add("422")
    for code in sorted(codes):
        answers.setdefault(code, {"$ref": f"#/components/responses/{code}"})
    for answer in answers.values():
        schema = answer.get("content", {}).get("application/json", {}).get("schema", {})
        props = schema.get("properties", {})
        if "id" in props:
            props["id"] = {"type": "integer"}
        if "ids" in props:
            props["ids"] = {"type": "array", "items": {"type": "integer"}}
        if "count" in props:
            props["count"] = {"type": "integer"}
        result = props.get("result", {})
        if result.get("$ref") in sent:
            props["result"] = {"$ref": sent[result["$ref"]]}
        if "message" in props:
            props["message"] = {"type": "string"}
        for name in ("add_columns", "edit_columns"):
            if name in props:  # _info: the fields of the add and edit forms
                props[name] = {"type": "array", "items": FIELD_INFO}


# ---------------------------------------------------------------------------
# The OpenAPI document, for signed-in users
# ---------------------------------------------------------------------------


class KartotekaOpenApi(OpenApi):
    """FAB's OpenAPI document of the API (``/api/v1/_openapi``), served to every
    signed-in user (FAB's permission ``can_get`` on ``OpenApi``, which every role
    has with its profile and password), corrected to describe what the API
    answers: amounts as decimal strings, moments in UTC with their offset, ids as
    integers, masked and hidden fields, the 401/403/404/422 answers and their
    messages. FAB's Swagger page stays off (it loads its scripts from a CDN)."""

    class_permission_name = "OpenApi"
    resource_name = "openapi"

    def response_401(self):
        return self.response(401, message=_("Войдите в систему."))

    def response_403(self):
        return self.response(403, message=str(ERROR_MESSAGES[403]))

    def response_404(self):
        return self.response(404, message=str(ERROR_MESSAGES[404]))

    @expose("/<version>/_openapi")
    @protect()
    @safe
    def get(self, version):
        """The OpenAPI document of one version of the API
        ---
        get:
          description: >-
            The OpenAPI document of this version of the API
          parameters:
          - in: path
            schema:
              type: string
            name: version
          responses:
            200:
              description: The OpenAPI document
              content:
                application/json:
                  schema:
                    type: object
            401:
              $ref: '#/components/responses/401'
            403:
              $ref: '#/components/responses/403'
            404:
              $ref: '#/components/responses/404'
        """
        spec = self._create_api_spec(version)
        apis = [
            v for v in current_app.appbuilder.baseviews if isinstance(v, BaseApi) and v.version == version
        ]
        if not apis:
            return self.response_404()
        for api in apis:
            api.add_api_spec(spec)
        return self.response(200, **describe(spec.to_dict(), apis))

    @staticmethod
    def _create_api_spec(version):
        return create_spec(version)
