"""The private surface of the libraries Kartoteka extends, fenced.

Kartoteka overrides or calls methods that Flask-AppBuilder (and Jinja, Flask-Session,
RQ) do not promise to keep: a minor release may rename one or change its arguments,
and a page would break with nothing saying why. Each one is listed here with the
signature it had when Kartoteka was written against it; ``tests/test_overrides.py``
compares them with the installed libraries, so an upgrade fails with the name of
what changed. Add a line here whenever code reaches for a ``_private`` name.
"""

from __future__ import annotations

import importlib
import inspect

# (owner, name, signature as inspect prints it or None for an attribute, where Kartoteka uses it)
PRIVATE = (
    # a list page: FAB's list chain, taken over to render from one query plan
    ("flask_appbuilder.views:ModelView", "_list", "(self, **kwargs)", "app.views KartotekaModelView._list"),
    (
        "flask_appbuilder.views:ModelView",
        "_get_list_widget",
        "(self, filters, actions=None, order_column='', order_direction='', page=None, page_size=None, "
        "widgets=None, **kwargs)",
        "app.views KartotekaModelView._get_list_widget",
    ),
    (
        "flask_appbuilder.views:ModelView",
        "_get_search_widget",
        "(self, form=None, exclude_cols=None, widgets=None)",
        "app.views KartotekaModelView._get_search_widget: the filter widget rendered once per key",
    ),
    # forms: generated fields swapped for ones that read the user's language
    # an attribute (no signature): the row scope joins the declared base filters per request
    ("flask_appbuilder.views:ModelView", "_base_filters", None, "app.admin.datamodel RowScopeMixin"),
    (
        "flask_appbuilder.views:ModelView",
        "_init_forms",
        "(self)",
        "app.views, app.admin.security: local fields",
    ),
    ("flask_appbuilder.views:ModelView", "_init_properties", "(self)", "app.views: custom filters"),
    (
        "flask_appbuilder.views:ModelView",
        "_get_show_widget",
        "(self, pk, item, widgets=None, actions=None, show_fieldsets=None)",
        "app.views: the field policy on a record's page",
    ),
    (
        "flask_appbuilder.views:ModelView",
        "_get_add_widget",
        "(self, form, exclude_cols=None, widgets=None)",
        "app.views: the field policy on the add form",
    ),
    (
        "flask_appbuilder.views:ModelView",
        "_get_edit_widget",
        "(self, form, exclude_cols=None, widgets=None)",
        "app.views: the field policy on the edit form",
    ),
    ("flask_appbuilder.views:ModelView", "_add", "(self)", "app.views: the save pipeline through the domain"),
    (
        "flask_appbuilder.views:ModelView",
        "_edit",
        "(self, pk)",
        "app.views: the save pipeline through the domain",
    ),
    ("flask_appbuilder.views:ModelView", "_show", "(self, pk)", "app.views KartotekaModelView.show"),
    (
        "flask_appbuilder.views:ModelView",
        "_delete",
        "(self, pk)",
        "app.admin.base: a record of an erased customer refused before FAB's deletion starts "
        "(the views' own pre_delete hooks would each have to call it); app.admin.security: "
        "a user whose name is on records is refused in words",
    ),
    (
        "flask_appbuilder.views:ModelView",
        "_get_related_views_widgets",
        "(self, item, orders=None, pages=None, page_sizes=None, widgets=None, **args)",
        "app.views: the card's tabs, those the role may read, in declared order",
    ),
    (
        "flask_appbuilder.views:ModelView",
        "_get_related_view_widget",
        "(self, item, related_view, order_column='', order_direction='', page=None, page_size=None)",
        "app.views: a card tab's list",
    ),
    (
        "flask_appbuilder.views:ModelView",
        "_fill_form_exclude_cols",
        "(self, exclude_cols, form)",
        "app.views KartotekaModelView: the tab's record read within the user's rows",
    ),
    (
        "flask_appbuilder.views:ModelView",
        "_deserialize_pk_if_composite",
        "(self, pk)",
        "app.views show/edit (called)",
    ),
    # the data layer
    (
        "flask_appbuilder.models.sqla.interface:SQLAInterface",
        "_get_attr_value",
        "(item, col)",
        "app.admin.datamodel",
    ),
    (
        "flask_appbuilder.models.sqla.interface:SQLAInterface",
        "_apply_inner_all",
        "(self, query: 'Query', filters: 'Filters | None' = None, order_column: 'str' = '', "
        "order_direction: 'str' = '', page: 'int | None' = None, page_size: 'int | None' = None, "
        "select_columns: 'list[str] | None' = None, aliases_mapping: 'dict[str, AliasedClass] | None' = None) "
        "-> 'Query'",
        "app.admin.datamodel Interface.query_count (called)",
    ),
    (
        "flask_appbuilder.models.filters:Filters",
        "_add_filter",
        "(self, filter_instance, values)",
        "app.views, app.admin.datamodel",
    ),
    # the REST API
    (
        "flask_appbuilder.api:ModelRestApi",
        "_get_field_info",
        "(self, field: 'Field', filter_rel_field: 'Dict[str, Any]', page: 'Optional[int]' = None, "
        "page_size: 'Optional[int]' = None) -> 'Dict[str, Any]'",
        "app.admin.api: descriptions of fields",
    ),
    (
        "flask_appbuilder.api:ModelRestApi",
        "_get_list_related_field",
        "(self, field: 'Field', filter_rel_field: 'List[Any]', page: 'Optional[int]' = None, "
        "page_size: 'Optional[int]' = None) -> 'Tuple[int, List[Dict[str, Any]]]'",
        "app.admin.api PolicyApi: a relation's choices within the user's rows",
    ),
    (
        "flask_appbuilder.api:ModelRestApi",
        "_handle_order_args",
        "(self, rison_args: 'Dict[str, Any]') -> 'Tuple[str, str]'",
        "app.admin.api PolicyApi: no order by a value the user may not read",
    ),
    (
        "flask_appbuilder.api:ModelRestApi",
        "_handle_filters_args",
        "(self, rison_args: 'Dict[str, Any]') -> 'Filters'",
        "app.admin.api PolicyApi: no filter on a value the user may not read",
    ),
    (
        "flask_appbuilder.api:ModelRestApi",
        "_merge_update_item",
        "(self, model_item: 'Model', data: 'Dict[str, Any]') -> 'Dict[str, Any]'",
        "app.admin.api PolicyApi.put_headless (called)",
    ),
    (
        "flask_appbuilder.api:ModelRestApi",
        "_sanitize_page_args",
        "(self, page: 'Optional[int]', page_size: 'Optional[int]') -> 'Tuple[Optional[int], Optional[int]]'",
        "app.admin.api PolicyApi._get_list_related_field (called)",
    ),
    (
        "flask_appbuilder.api.convert:Model2SchemaConverter",
        "_column2relation",
        "(self, datamodel: flask_appbuilder.models.sqla.interface.SQLAInterface, "
        "column: flask_appbuilder.api.convert.TreeNode, nested: bool = False, "
        "parent_schema_name: Optional[str] = None) -> marshmallow.fields.Field",
        "app.admin.api PolicySchemaConverter: a relation accepted within the user's rows",
    ),
    (
        "flask_appbuilder.api.convert:Model2SchemaConverter",
        "_column2field",
        "(self, datamodel: flask_appbuilder.models.sqla.interface.SQLAInterface, "
        "column: flask_appbuilder.api.convert.TreeNode, nested: bool = True, "
        "parent_schema_name: Optional[str] = None) -> marshmallow.fields.Field",
        "app.admin.api PolicySchemaConverter: amounts, moments, the columns' limits",
    ),
    (
        "flask_appbuilder.api.manager:OpenApi",
        "_create_api_spec",
        "(version)",
        "app.admin.openapi KartotekaOpenApi",
    ),
    (
        "marshmallow_sqlalchemy.fields:Related",
        "_deserialize",
        "(self, value, *args, **kwargs)",
        "app.admin.api ScopedRelated: an unknown id became a new record",
    ),
    (
        "marshmallow.fields:DateTime",
        "_serialize",
        "(self, value: '_D | None', attr, obj, **kwargs) -> 'str | float | None'",
        "app.admin.api UtcDateTime: a moment sent in UTC with its offset",
    ),
    (
        "marshmallow.fields:DateTime",
        "_deserialize",
        "(self, value, attr, data, **kwargs) -> '_D'",
        "app.admin.api UtcDateTime: a moment without an offset is the clinic's",
    ),
    # permissions answered from the set loaded once per request
    (
        "flask_appbuilder.security.sqla.manager:SecurityManager",
        "_has_view_access",
        "(self, user: 'object', permission_name: 'str', view_name: 'str') -> 'bool'",
        "app.admin.security",
    ),
    (
        "flask_appbuilder.security.sqla.manager:SecurityManager",
        "_get_user_permission_view_menus",
        "(self, user: 'object', permission_name: 'str', view_menus_name: 'List[str]') -> 'Set[str]'",
        "app.admin.security",
    ),
    # templates read the environment's globals without a ChainMap per import
    (
        "jinja2.environment:Environment",
        "_load_template",
        "(self, name: str, globals: Optional[MutableMapping[str, Any]]) -> 'Template'",
        "app.admin.rendering Environment",
    ),
    # sessions kept in Kartoteka's migrated table
    (
        "flask_session.base:ServerSideSessionInterface",
        "_retrieve_session_data",
        "(self, store_id: str) -> Optional[dict]",
        "app.admin.sessions",
    ),
    (
        "flask_session.base:ServerSideSessionInterface",
        "_delete_session",
        "(self, store_id: str) -> None",
        "app.admin.sessions",
    ),
    (
        "flask_session.base:ServerSideSessionInterface",
        "_delete_expired_sessions",
        "(self) -> None",
        "app.admin.sessions",
    ),
    (
        "flask_session.base:ServerSideSessionInterface",
        "_upsert_session",
        "(self, session_lifetime: datetime.timedelta, session: flask_session.base.ServerSideSession, "
        "store_id: str) -> None",
        "app.admin.sessions",
    ),
    (
        "flask_session.base:ServerSideSessionInterface",
        "_generate_sid",
        "(self, session_id_length: int) -> str",
        "app.admin.sessions: a static file's session, never saved",
    ),
    # rows of plain values read by position: SQLAlchemy's own option for it (an execution
    # option, fenced by the ORM's options that carry it)
    (
        "sqlalchemy.orm:context",
        "_orm_load_exec_options",
        None,
        "app.admin.datamodel BY_POSITION (_result_disable_adapt_to_context)",
    ),
    # the embedded worker runs RQ's SimpleWorker in a thread
    ("rq.worker.worker_classes:SimpleWorker", "_install_signal_handlers", "(self)", "app.worker"),
)


def owner(path: str):
    module, _colon, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def changed() -> list[str]:
    """Each fenced name that is gone or whose signature differs from the one recorded."""
    found = []
    for path, name, signature, used_by in PRIVATE:
        try:
            method = getattr(owner(path), name)
        except (ImportError, AttributeError):
            found.append(f"{path}.{name} is gone (used by {used_by})")
            continue
        if signature is None:  # an attribute: that it is there is what counts
            continue
        now = str(inspect.signature(method))
        if now != signature:
            found.append(f"{path}.{name}{now}, was {signature} (used by {used_by})")
    return found
