"""Extensions created unbound; create_app() binds them."""

from flask_appbuilder.utils.legacy import get_sqla_class
from flask_migrate import Migrate

db = get_sqla_class()()
migrate = Migrate()
