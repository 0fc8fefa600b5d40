"""Accounts: one spelling of each username wherever accounts are made, passwords that `community load` keeps,
a password change page for everyone and an admin's reset."""
from __future__ import annotations

import re

import sqlalchemy as sa
from support import DEMO_PASSWORD, Api, Browser

from service.auth import set_password
from service.district import load_users
from service.models import User


def _logs_in(app, username: str, password: str) -> bool:
    return Api(app.test_client()).login(username, password).status_code == 200


def _forget(db, *usernames: str) -> None:
    """Remove people a test made: the users table is kept between tests."""
    db.execute(sa.delete(User).where(User.username.in_(usernames)))
    db.commit()


def test_community_load_never_overwrites_a_password(app, db):
    staff1 = db.scalar(sa.select(User).where(User.username == "staff1"))
    set_password(staff1, "changed-at-the-desk")
    db.commit()
    result = app.test_cli_runner().invoke(args=["district", "load"])  # what every `make run` does
    assert result.exit_code == 0 and "users" in result.output
    assert _logs_in(app, "staff1", "changed-at-the-desk") and not _logs_in(app, "staff1", DEMO_PASSWORD)
    assert _logs_in(app, "rider1", DEMO_PASSWORD)


def test_community_load_gives_only_the_accounts_it_makes_a_password_and_one_spelling(app, db, tmp_path):
    users = [{"username": "admin", "display_name": "管理员", "role": "admin"},
             {"username": "\u3000ｒｉｄｅｒ８ ", "display_name": "骑手 八", "role": "reporter"}]
    admin = db.scalar(sa.select(User).where(User.username == "admin"))
    set_password(admin, "admins-own-pass")
    db.commit()
    load_users(db, users, "fresh-demo-pass")
    db.commit()
    assert db.scalar(sa.select(User.display_name).where(User.username == "rider8")) == "骑手 八"
    assert _logs_in(app, "rider8", "fresh-demo-pass")
    assert _logs_in(app, "admin", "admins-own-pass") and not _logs_in(app, "admin", "fresh-demo-pass")
    _forget(db, "rider8")


def test_usernames_made_at_the_desk_have_one_spelling(app, db):
    admin = Browser(app.test_client())
    admin.login("admin")
    admin.post("/desk/users/add", username="\u3000ｇｗ１４\u00a0", display_name="网格员 14",
               role="grid_worker", password="worker-pass-14")
    again = admin.post("/desk/users/add", username=" gw14\t", role="reporter", password="another-pass")
    assert "已被使用" in admin.get(again.headers["Location"]).get_data(as_text=True)
    staff = Browser(app.test_client())
    staff.login("staff1")
    page = staff.post("/desk/invites", display_name="骑手 七", username="ｒｉｄｅｒ７\u200b ").get_data(as_text=True)
    assert "id=\"invite-link\"" in page
    db.expire_all()
    assert set(db.scalars(sa.select(User.username).where(User.username.in_(("gw14", "rider7"))))) == {"gw14", "rider7"}
    assert db.scalar(sa.select(sa.func.count()).select_from(User).where(User.username.like("%gw14%"))) == 1
    assert _logs_in(app, " gw14 ", "worker-pass-14")
    _forget(db, "gw14", "rider7")


def test_a_person_changes_their_own_password_and_other_sessions_end(app):
    rider = Browser(app.test_client())
    rider.login("rider1")
    elsewhere, script = Browser(app.test_client()), Api(app.test_client())
    elsewhere.login("rider1")
    script.login("rider1")
    assert 'href="/account/password"' in rider.get("/").get_data(as_text=True)
    page = rider.get("/account/password")
    assert page.status_code == 200 and 'name="current"' in page.get_data(as_text=True)
    for fields, status, says in (
            ({"current": "wrong", "password": "new-pass-123", "password2": "new-pass-123"}, 401, "当前密码不正确"),
            ({"current": DEMO_PASSWORD, "password": "new-pass-123", "password2": "new-pass-124"}, 422, "不一致"),
            ({"current": DEMO_PASSWORD, "password": "short", "password2": "short"}, 422, "至少 8 位")):
        refused = rider.post("/account/password", **fields)
        assert refused.status_code == status and says in refused.get_data(as_text=True)
    assert _logs_in(app, "rider1", DEMO_PASSWORD)
    script.login("rider1")
    done = rider.post("/account/password", current=DEMO_PASSWORD, password="new-pass-123", password2="new-pass-123")
    assert done.status_code == 303 and "密码已修改" in rider.get(done.headers["Location"]).get_data(as_text=True)
    assert rider.get("/").status_code == 200  # this session stays logged in
    assert elsewhere.get("/").status_code == 302 and script.get("/api/v1/me/reports").status_code == 401
    assert not _logs_in(app, "rider1", DEMO_PASSWORD) and _logs_in(app, "rider1", "new-pass-123")


def test_wrong_current_passwords_count_with_failed_logins(tmp_path, settings):
    from support import make_settings

    from service.web import create_app

    app = create_app(make_settings(tmp_path, settings.database_url, settings.redis_url,
                                   login_limit_per_account="3 per minute"))
    app.config["TESTING"] = True
    thief = Browser(app.test_client())  # holds a session cookie, guesses the password to keep the account
    thief.login("gw05")
    assert Api(app.test_client()).login("gw05", "wrong").status_code == 401
    guesses = [thief.post("/account/password", current=f"guess-{i}", password="taken-over-1",
                          password2="taken-over-1").status_code for i in range(3)]
    assert guesses == [401, 401, 429]
    assert Api(app.test_client()).login("gw05").status_code == 429  # the same account's count
    locked = thief.post("/account/password", current=DEMO_PASSWORD, password="taken-over-1", password2="taken-over-1")
    assert locked.status_code == 429 and 0 < int(locked.headers["Retry-After"]) <= 60
    page = locked.get_data(as_text=True)  # the password page again, saying when, not a bare English error
    assert "修改密码" in page and "密码错误次数过多，请 1 分钟后再试" in page and 'name="current"' in page


def test_the_desk_and_field_pages_link_to_the_password_page(app):
    for username, home in (("staff1", "/desk"), ("gw06", "/field")):
        browser = Browser(app.test_client())
        browser.login(username)
        assert 'href="/account/password"' in browser.get(home).get_data(as_text=True)
        assert browser.get("/account/password").status_code == 200


def test_an_admin_resets_a_password_shown_once_or_typed(app):
    rider2 = Api(app.test_client())
    rider2.login("rider2")
    admin = Browser(app.test_client())
    admin.login("admin")
    assert 'action="/desk/users/reset"' in admin.get("/desk/users").get_data(as_text=True)
    shown = admin.post("/desk/users/reset", username="rider2")
    assert shown.status_code == 200 and shown.headers["Cache-Control"] == "no-store"
    generated = re.search(r'id="new-password">([^<]+)<', shown.get_data(as_text=True)).group(1)
    assert len(generated) >= 12 and _logs_in(app, "rider2", generated) and not _logs_in(app, "rider2", DEMO_PASSWORD)
    assert rider2.get("/api/v1/me/reports").status_code == 401
    assert generated not in admin.get("/desk/users").get_data(as_text=True)  # shown once
    typed = admin.post("/desk/users/reset", username="rider2", password="typed-pass-1")
    assert typed.status_code == 303 and _logs_in(app, "rider2", "typed-pass-1")
    short = admin.post("/desk/users/reset", username="rider2", password="short")
    assert "至少 8 位" in admin.get(short.headers["Location"]).get_data(as_text=True)
    assert _logs_in(app, "rider2", "typed-pass-1")
    own = admin.post("/desk/users/reset", username="admin", password="admins-new-1")
    assert own.status_code == 303 and admin.get("/desk/users").status_code == 200  # not here: on the password page
    assert _logs_in(app, "admin", DEMO_PASSWORD)
    staff = Browser(app.test_client())
    staff.login("staff1")
    assert staff.post("/desk/users/reset", username="rider2", password="staff-pass-1").status_code == 403


def test_the_migration_gives_existing_usernames_their_one_spelling_and_ends_old_tokens(tmp_path):
    from alembic import command

    from service.db import Database, alembic_config, upgrade_schema

    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade_schema(url, "0004")
    db = Database(url)
    with db.engine.begin() as conn:
        for name, token in (("\u3000ｒｉｄｅｒ５ ", "a" * 64), ("admin", None), (" admin", None)):
            conn.execute(sa.text("INSERT INTO users (username, display_name, role, active, created_at, api_token_hash)"
                                 " VALUES (:n, 'x', 'reporter', true, '2026-01-01 00:00:00', :t)"),
                         {"n": name, "t": token})
    upgrade_schema(url)
    with db.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT username, api_token_hash, session_version FROM users ORDER BY id")).all()
    assert [tuple(r) for r in rows] == [("rider5", None, 0), ("admin", None, 0), (" admin", None, 0)]
    command.downgrade(alembic_config(url), "0004")  # and back down
    with db.engine.connect() as conn:
        assert "session_version" not in [c["name"] for c in sa.inspect(conn).get_columns("users")]
    db.dispose()


def _answer(browser, response) -> str:
    """The page a form's redirect lands on, as the admin sees it."""
    assert response.status_code == 303 and response.headers["Location"].endswith("/desk/users")
    return browser.get(response.headers["Location"]).get_data(as_text=True)


def test_each_form_of_the_users_page_posts_to_its_own_address(app):
    admin = Browser(app.test_client())
    admin.login("admin")
    page = admin.get("/desk/users").get_data(as_text=True)
    for address in ("/desk/users/add", "/desk/users/active", "/desk/users/reset", "/desk/users/grid-worker"):
        assert f'action="{address}"' in page
    assert 'name="what"' not in page


def test_an_admin_adds_a_person_and_sees_them_listed_or_sees_why_not(app, db):
    admin = Browser(app.test_client())
    admin.login("admin")
    page = _answer(admin, admin.post("/desk/users/add", username="gw15", display_name="网格员 15",
                                     role="grid_worker", password="worker-pass-15"))
    assert "已添加 gw15" in page and "<td>gw15</td><td>网格员 15</td><td>网格员 Grid worker</td>" in page
    assert "请选择角色" in _answer(admin, admin.post("/desk/users/add", username="gw16", role="mayor",
                                                   password="worker-pass-16"))
    assert "至少 8 位" in _answer(admin, admin.post("/desk/users/add", username="gw16", role="reporter",
                                                 password="short"))
    assert db.scalar(sa.select(User.id).where(User.username == "gw16")) is None
    _forget(db, "gw15")


def test_an_admin_deactivates_and_reactivates_someone_but_never_themselves(app, db):
    admin = Browser(app.test_client())
    admin.login("admin")
    page = _answer(admin, admin.post("/desk/users/active", username="rider2", active="0"))
    assert "rider2 已停用" in page and not _logs_in(app, "rider2", DEMO_PASSWORD)
    page = _answer(admin, admin.post("/desk/users/active", username="rider2", active="1"))
    assert "rider2 已启用" in page and _logs_in(app, "rider2", DEMO_PASSWORD)
    page = _answer(admin, admin.post("/desk/users/active", username="admin", active="0"))
    assert "不能停用自己" in page and admin.get("/desk/users").status_code == 200  # still logged in, still active
    assert "找不到该用户" in _answer(admin, admin.post("/desk/users/active", username="nobody", active="0"))


def test_an_admin_resetting_an_unknown_person_is_told_so(app):
    admin = Browser(app.test_client())
    admin.login("admin")
    assert "找不到该用户" in _answer(admin, admin.post("/desk/users/reset", username="nobody"))


def test_an_admin_names_a_grids_worker_and_sees_it_or_sees_why_not(app, db):
    from service.models import Grid

    admin = Browser(app.test_client())
    admin.login("admin")
    grid = db.scalar(sa.select(Grid).where(Grid.code == "HQ01"))
    before = grid.worker.username
    page = _answer(admin, admin.post("/desk/users/grid-worker", grid="HQ01", worker="gw02"))
    assert f"{grid.name} 的网格员改为 " in page
    db.expire_all()
    assert db.scalar(sa.select(Grid).where(Grid.code == "HQ01")).worker.username == "gw02"
    assert "找不到该网格员" in _answer(admin, admin.post("/desk/users/grid-worker", grid="HQ01", worker="rider2"))
    assert "找不到该网格" in _answer(admin, admin.post("/desk/users/grid-worker", grid="XX99", worker="gw02"))
    _answer(admin, admin.post("/desk/users/grid-worker", grid="HQ01", worker=before))  # the demo community back
    db.expire_all()
    assert db.scalar(sa.select(Grid).where(Grid.code == "HQ01")).worker.username == before


def test_an_invitation_says_what_is_missing_and_its_link_says_what_is_wrong(app, db):
    staff = Browser(app.test_client())
    staff.login("staff1")
    for fields in ({"display_name": "", "username": "rider66"}, {"display_name": "骑手 六", "username": "骑手六"}):
        page = staff.post("/desk/invites", **fields).get_data(as_text=True)
        assert "请填写姓名和用户名（字母或数字）" in page and 'id="invite-link"' not in page
    assert db.scalar(sa.select(User.id).where(User.username.in_(("rider66", "骑手六")))) is None
    page = staff.post("/desk/invites", display_name="骑手 六", username="rider66").get_data(as_text=True)
    path = re.search(r'id="invite-link">([^<]+)<', page).group(1).split("localhost", 1)[1]
    phone = Browser(app.test_client())
    phone.token_from(phone.get(path).get_data(as_text=True))
    differ = phone.post(path, password="ride-safe-2026", password2="ride-safe-2027")
    assert differ.status_code == 422 and "密码至少 8 位，且两次输入一致" in differ.get_data(as_text=True)
    assert phone.post(path, password="ride-safe-2026", password2="ride-safe-2026").status_code == 302
    used = Browser(app.test_client()).get(path)
    assert used.status_code == 410 and "邀请链接已使用或已失效 / the invitation was already used" in used.get_data(
        as_text=True)
    _forget(db, "rider66")


def test_an_admin_places_each_new_person_in_the_district(app, db):
    """A community's staff member sees that community's cases only; a unit's account must name its unit."""
    admin = Browser(app.test_client())
    admin.login("admin")
    page = admin.get("/desk/users").get_data(as_text=True)
    assert '<option value="community:tysq">虹桥街道 · 桃园社区</option>' in page
    assert '<option value="street_office:hqjd">虹桥街道</option>' in page
    added = admin.post("/desk/users/add", username="tystaff2", display_name="桃园 新同事", role="staff",
                       password="ty-staff-pass", belongs="community:tysq")
    assert "已添加 tystaff2" in admin.get(added.headers["Location"]).get_data(as_text=True)
    no_unit = admin.post("/desk/users/add", username="unit9", role="unit", password="unit9-pass-x")
    assert "责任单位账号须选择所属单位" in admin.get(no_unit.headers["Location"]).get_data(as_text=True)
    nowhere = admin.post("/desk/users/add", username="staff9", role="staff", password="staff9-pass",
                         belongs="community:atlantis")
    assert "请选择所属社区或街道" in admin.get(nowhere.headers["Location"]).get_data(as_text=True)
    db.expire_all()
    made = db.scalar(sa.select(User).where(User.username == "tystaff2"))
    assert (made.community.code, made.street_office_id, made.role) == ("tysq", None, "staff")
    assert db.scalar(sa.select(User).where(User.username.in_(("unit9", "staff9")))) is None
    _forget(db, "tystaff2")
