"""Admins edit SLA policies and calendars over REST and in the admin pages (SLA-1, SLA-2)."""

from __future__ import annotations

from tests.signin import login_as
from tests.workflows.helpers import rows


async def _versions(http) -> list[dict]:
    return (await http.get("/api/v1/sla/versions")).json()


async def test_sla1_current_policy_lists_every_seeded_rule_with_its_source(http):
    current = (await http.get("/api/v1/sla/versions/current")).json()
    assert current["in_force"] and current["rule_count"] == len(current["rules"])
    sources = " ".join(r["source"] for r in current["rules"])
    for cited in ("PS-1", "OF-3", "AS-5", "CP-2", "VP-3", "T-5", "COM-1", "ESC-2"):
        assert cited in sources


async def test_sla1_edit_publishes_a_new_version_and_new_cases_resolve_to_it(http, restore_policy):
    before = await _versions(http)
    current = (await http.get("/api/v1/sla/versions/current")).json()
    rule = next(
        r
        for r in current["rules"]
        if r["process"] == "complaint" and r["step"] == "investigation" and r["severity"] == "major"
    )
    r = await http.patch(
        f"/api/v1/sla/rules/{rule['id']}",
        json={"note": "总监调查缩短为 36 小时", "target": "36h", "warn_at": 0.75},
        headers={"X-Careflow-Actor": "director.wang"},
    )
    assert r.status_code == 201, r.text
    published = r.json()
    assert published["version"] == before[0]["version"] + 1 and published["in_force"]
    resolved = (
        await http.get(
            "/api/v1/sla/resolve",
            params={"process": "complaint", "step": "investigation", "severity": "major"},
        )
    ).json()
    assert resolved["target"] == "P1DT12H" and resolved["warn_at"] == 0.75
    history = await _versions(http)
    assert history[0]["published_by"] == "director.wang" and history[0]["note"] == "总监调查缩短为 36 小时"
    # The rule of the old version can no longer be edited: it is history.
    stale = await http.patch(f"/api/v1/sla/rules/{rule['id']}", json={"note": "x", "target": "1h"})
    assert stale.status_code == 409


async def test_sla1_invalid_policies_are_refused_with_the_field_and_change_nothing(http, settings):
    before = await _versions(http)
    cases = [
        ({"process": "presales", "step": "follow_up", "target": "-3d"}, "not a duration"),
        ({"process": "presales", "step": "follow_up"}, "needs a target"),
        (
            {"process": "presales", "step": "follow_up", "target": "3d", "warn_at": 1.5},
            "warning must come before the breach",
        ),
        (
            {"process": "presales", "step": "follow_up", "target": "3d", "calendar": "火星"},
            "unknown calendar",
        ),
        ({"process": "presales", "step": "nowhere", "target": "3d"}, "nowhere"),
    ]
    for change, message in cases:
        r = await http.post("/api/v1/sla/versions", json={"note": "bad", "changes": [change]})
        assert r.status_code == 422, (change, r.text)
        assert message in str(r.json()["detail"]), (change, r.json())
    # Dropping the only target of a step would leave cases without a deadline.
    r = await http.post(
        "/api/v1/sla/versions",
        json={
            "note": "bad",
            "remove": [{"kind": "target", "process": "aftersales", "step": "dispatch", "metric": "internal"}],
        },
    )
    assert r.status_code == 422 and "aftersales/dispatch: no catch-all target" in r.text
    r = await http.post("/api/v1/sla/versions", json={"note": "x", "based_on": 1, "changes": []})
    assert r.status_code == 409 and "no longer in force" in r.text
    assert await _versions(http) == before
    assert rows(settings, "SELECT count(*) AS n FROM sla_policy_versions")[0]["n"] == len(before)


async def test_sla2_friday_evening_before_qingming_gets_tuesday_morning(http):
    r = await http.get(
        "/api/v1/calendars/cn-standard/deadline",
        params={"start": "2026-04-03T17:50:00+08:00", "duration": "30m"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["due_at"] == "2026-04-07T01:20:00Z"  # Tuesday 09:20 in Shanghai
    # 调休: Saturday 2026-02-28 is a working day.
    r = await http.get(
        "/api/v1/calendars/cn-standard/deadline",
        params={"start": "2026-02-27T17:50:00+08:00", "duration": "30m"},
    )
    assert r.json()["due_at"] == "2026-02-28T01:20:00Z"


async def test_sla2_admin_overrides_fill_a_year_the_package_does_not_know(http, settings):
    name = "cn-2027-test"
    week = [[["09:00", "12:00"], ["13:00", "18:00"]]] * 5 + [[], []]
    r = await http.put(
        f"/api/v1/calendars/{name}", json={"title": "测试 2027", "week": week, "public_holidays": "CN"}
    )
    assert r.status_code == 201, r.text
    listed = r.json()
    assert 2027 in listed["missing_years"]  # chinesecalendar 1.11 stops at 2026: visible, not silent
    start = {"start": "2027-02-04T17:50:00+08:00", "duration": "30m"}
    assert (await http.get(f"/api/v1/calendars/{name}/deadline", params=start)).json()["missing_years"] == [
        2027
    ]
    # Spring Festival 2027, entered by an admin: 2/5–2/11 off, Sunday 2/14 a make-up working day.
    for day in range(5, 12):
        r = await http.post(
            f"/api/v1/calendars/{name}/days",
            json={"day": f"2027-02-{day:02d}", "kind": "holiday", "note": "春节"},
        )
        assert r.status_code == 201
    await http.post(
        f"/api/v1/calendars/{name}/days", json={"day": "2027-02-14", "kind": "workday", "note": "春节调休"}
    )
    r = await http.post(f"/api/v1/calendars/{name}/years/2027")
    assert 2027 not in r.json()["missing_years"]
    due = (await http.get(f"/api/v1/calendars/{name}/deadline", params=start)).json()
    # Thursday 17:50 + 10 min; the rest once the holiday is over, Friday 2/12 at 09:20.
    assert due["due_at"] == "2027-02-12T01:20:00Z" and due["missing_years"] == []
    late = {"start": "2027-02-12T17:50:00+08:00", "duration": "30m"}
    # From Friday evening, the make-up Sunday 2/14 comes before Monday.
    assert (await http.get(f"/api/v1/calendars/{name}/deadline", params=late)).json()[
        "due_at"
    ] == "2027-02-14T01:20:00Z"
    bad = await http.post(f"/api/v1/calendars/{name}/days", json={"day": "2027-03-01", "kind": "maybe"})
    assert bad.status_code == 422
    bad = await http.put(f"/api/v1/calendars/{name}", json={"title": "x", "week": [[["18:00", "09:00"]]] * 7})
    assert bad.status_code == 422 and "must end after it starts" in bad.text
    assert rows(settings, "SELECT week FROM calendars WHERE name=%s", name)[0]["week"] == week


async def test_sla1_admin_page_edits_a_rule_and_shows_errors_in_chinese(http, restore_policy):
    login_as(http, "admin")  # SLA-1: admins edit the policy
    page = await http.get("/admin/sla")
    assert page.status_code == 200 and "出处" in page.text and "PS-1" in page.text
    current = (await http.get("/api/v1/sla/versions/current")).json()
    rule = next(r for r in current["rules"] if r["process"] == "presales" and r["step"] == "follow_up")
    form = {
        "target": "2d",
        "off_hours_target": "",
        "warn_at": "0.9",
        "calendar": "24x7",
        "owner_role": "sales_consultant",
        "chain": "supervisor@0, director@4h",
        "note": "",
        "actor": "管理员",
    }
    r = await http.post(f"/admin/sla/rules/{rule['id']}", data=form)
    assert r.status_code == 422 and "修改说明" in r.text  # the note is required
    r = await http.post(f"/admin/sla/rules/{rule['id']}", data={**form, "note": "跟进提速", "warn_at": "2"})
    assert (
        r.status_code == 422 and "the warning must come before the breach" in r.text and 'value="2"' in r.text
    )
    r = await http.post(f"/admin/sla/rules/{rule['id']}", data={**form, "note": "跟进提速"})
    assert r.status_code == 303
    assert (
        await http.get("/api/v1/sla/resolve", params={"process": "presales", "step": "follow_up"})
    ).json()["target"] == "P2D"
    assert (await http.get("/admin/calendars")).status_code == 200
    cal = await http.get("/admin/calendars/cn-standard?year=2027")
    assert "2027 年：节假日数据包尚无" in cal.text


async def test_sla1_migrate_adds_the_seeded_targets_of_new_steps_to_an_older_policy(settings, restore_policy):
    """A database whose policy predates a step (here the complaint's remedy execution) gets the next version
    with that step's seeded target on the next migrate; the rest of the policy is kept as it was."""
    from activities.policy import seed_policy

    current = rows(settings, "SELECT max(version) AS v FROM sla_policy_versions")[0]["v"]
    older = current + 1
    rows(
        settings,
        "INSERT INTO sla_policy_versions (version, note, published_by, digest, rule_count) "
        "SELECT %s, 'before remedy_execution', 'tests', 'old', rule_count - 1 FROM sla_policy_versions "
        "WHERE version = %s RETURNING version",
        older,
        current,
    )
    columns = (
        "kind, process, step, severity, tier, channel, variant, metric, owner_role, target_seconds, "
        "off_hours_target_seconds, warn_at, calendar, chain, source"
    )
    rows(
        settings,
        f"INSERT INTO sla_rules (version, {columns}) SELECT %s, {columns} FROM sla_rules "
        "WHERE version = %s AND step <> 'remedy_execution' RETURNING id",
        older,
        current,
    )
    published = await seed_policy(settings.sqlalchemy_url())
    assert published == older + 1
    added = rows(
        settings,
        "SELECT step, target_seconds FROM sla_rules WHERE version = %s AND step = 'remedy_execution'",
        published,
    )
    assert added == [{"step": "remedy_execution", "target_seconds": 48 * 3600}]
    counts = rows(
        settings,
        "SELECT version, count(*) AS n FROM sla_rules WHERE version IN (%s, %s) GROUP BY version ORDER BY version",
        older,
        published,
    )
    assert counts[1]["n"] == counts[0]["n"] + 1
    assert await seed_policy(settings.sqlalchemy_url()) is None  # nothing new the second time
