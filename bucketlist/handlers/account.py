"""Your own data: operationIds `account.*` in the spec."""

from __future__ import annotations

import flask
from pony.orm import db_session

from .. import account, changes
from ..dispatch import through_flask
from ..errors import INVALID_TOKEN, Unauthorized
from ..export import Export
from ..security import check_password
from ..state import current

INCORRECT_PASSWORD = "Incorrect password"


@through_flask
def export_account(user: int) -> flask.Response:
    document = Export(current().settings, user)
    # No Content-Length: bucketlist.wsgi sends the chunks as they are written.
    return flask.Response(document.chunks(), mimetype="application/json")


def delete_account(user: int, body: dict) -> dict:
    state = current()
    db = state.db
    with db_session:
        found = db.select("SELECT password_hash FROM users WHERE id = $user", {"user": user})
    if not found:
        raise Unauthorized(INVALID_TOKEN)
    # bcrypt before the transaction: the user's row lock should not wait on it.
    if not check_password(body["password"], found[0]):
        raise Unauthorized(INCORRECT_PASSWORD)
    with db_session:
        changes.begin_write(db, user)  # the row lock: the user's other writes wait, then find no user
        now = db.select("SELECT password_hash FROM users WHERE id = $user", {"user": user})
        if now != found:
            raise Unauthorized(INCORRECT_PASSWORD)  # the password was changed meanwhile
        account.erase(db, user)
    state.limiter.forget_user(user)
    return {"status": "success", "message": "Account deleted"}
