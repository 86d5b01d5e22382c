"""Flask-AppBuilder strings that show on our pages, listed so that extraction puts them
in our catalogs: FAB's Russian catalog lacks them or gets them wrong, and ours is merged
over FAB's (see app.__init__). Nothing imports this module; it exists for `make translations`."""

from flask_babel import lazy_gettext as _l

FAB_STRINGS = [
    _l("Email"),
    _l("Search"),  # the filter panel's button
    _l("Add"),
    _l("Add Group"),
    _l("Are you sure you want to delete this item?"),
    _l("Contains (insensitive)"),
    _l("Database Error"),
    _l("Delete"),
    _l("Detail"),
    _l("Edit"),
    _l("Edit Group"),
    _l("Edit User Information"),
    _l("Either select a role or a group"),
    _l("Groups"),
    _l("In"),
    _l("List Groups"),
    _l(
        "Must have at least two capital letters, one special character, two digits, three lower case letters and a minimal length of 10."
    ),
    _l("Not In"),
    _l("Not a valid choice"),
    _l("Not a valid choice."),
    _l("Order by"),
    _l("Select Value"),
    _l("Show"),
    _l("Show Group"),
    _l("Sign In with "),
    _l("Sign in using:"),
    _l("Start with"),
    _l("The user's password for authentication"),
    _l("User information changed"),
    _l("User(s) exists in the group, cannot delete"),
    _l("User(s) exists in the role, cannot delete"),
    _l("Cancel"),
    _l("OK"),
    _l("User confirmation needed"),
    _l("Invalid login. Please try again."),
    _l("Edit record"),
    _l("Show record"),
    _l("Delete record"),
    # FAB's Russian says «Добавлено строк» / «Изменено строк» / «Удалено строк» after one record
    _l("Added Row"),
    _l("Changed Row"),
    _l("Deleted Row"),
    # relation filters: FAB's Russian is «Отношение», «Нет связи», «Связь многие ко многим»
    _l("Relation"),
    _l("No Relation"),
    _l("Relation as Many"),
    _l("Ends with"),  # FAB's Russian starts it with a small letter
    # the profile and the users screen: FAB's Russian heads another user's record
    # «Ваши данные», says «Частные данные», «Сбросить форму ввода пароля»
    _l("User info"),
    _l("Personal Info"),
    _l("Your user information"),
    _l("Show User"),
    _l("Reset my password"),
    _l("Reset Password Form"),
    _l("Failed login count"),  # FAB's Russian: «Не удалось посчиать количество входов»
    _l("User's Statistics"),  # the sign-in statistics' menu entry
    # the groups screen's columns (FAB's catalog has no Russian for them)
    _l("Label"),
    _l("Description"),
    _l("Roles"),
    # a new user's form: FAB's Russian leaves the groups' help in English and misspells
    # «ользователя» under the e-mail
    _l(
        "The user group on the application, this will associate with a list of roles associated with the group"
    ),
    _l("The user's email, this will also be used for OID auth"),
    # the rest of that form's help: FAB's Russian says «Выводить имя пользователя» (display
    # the name), speaks of «БД или LDAP» and «OID аутентификации» to a clinic's IT person,
    # and misspells «опредляющая»
    _l("Write the user first name or names"),
    _l("Write the user last name"),
    _l("Username valid for authentication on DB or LDAP, unused for OID auth"),
    _l("It's not a good policy to remove a user, just make it inactive"),
    _l("The user role on the application, this will associate with a list of permissions"),
]
