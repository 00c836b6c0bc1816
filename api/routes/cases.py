"""REST: /api/v1 — start a case, act on it, read it, list cases."""

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Header, Query, Request, Response

from api import services
from api.audit import audit
from api.auth import ActorDep, CurrentUser, UserDep, require
from api.deps import ClientDep, SessionDep, SettingsDep
from api.privacy import contacts_in_clear, mask_json
from api.schemas import ActionInfo, CaseDetail, CasePage, ProcessInfo, StartedCase, start_request_model
from domain.models import CASE_PREFIX, CaseState, CaseView, Process, SlaState
from domain.permissions import Permission
from workflows.registry import PROCESSES, ProcessDef

router = APIRouter(prefix="/api/v1", tags=["cases"])

ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "not signed in, or the API token is unknown or revoked"},
    403: {"description": "the role (or the token's scopes) does not allow this"},
    404: {"description": "unknown case or action"},
    409: {"description": "the action is not open at the case's current step, or the case is closed"},
    422: {"description": "invalid input; `detail[].loc` names the field"},
}


def _add_start_route(definition: ProcessDef) -> None:
    request_model = start_request_model(definition.process, definition.intake_model)

    async def start(
        body: request_model,  # type: ignore[valid-type]
        response: Response,
        db: SessionDep,
        client: ClientDep,
        settings: SettingsDep,
        actor: ActorDep,
        _user: Annotated[CurrentUser, Depends(require(Permission.CASES_CREATE))],
        idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
    ) -> StartedCase:
        started = await services.start_case(
            db=db,
            client=client,
            settings=settings,
            process=definition.process,
            body=body,
            idempotency_key=idempotency_key,
            actor=actor,
        )
        response.status_code = 201 if started.created else 200
        return started

    router.add_api_route(
        f"/cases/{definition.process.value}",
        start,
        methods=["POST"],
        status_code=201,
        summary=f"Start a {definition.process.value} case",
        description="Idempotent: a repeated `Idempotency-Key` (or `external_ref`) returns the same case with 200.",
        responses={200: {"description": "an earlier request with this key started the case"}, **ERRORS},
        name=f"start_{definition.process.value}",
    )


# A campaign names no customer but an audience: it starts at POST /api/v1/pushes, which checks that audience.
for _definition in PROCESSES.values():
    if _definition.process is not Process.VALUE_PUSH:
        _add_start_route(_definition)


@router.post("/cases/{number}/actions/{action}", responses=ERRORS, summary="Perform a staff action")
async def perform_action(
    number: str,
    action: str,
    client: ClientDep,
    payload: Annotated[dict[str, Any], Body(examples=[{"note": "您好，已收到您的咨询"}])],
    user: Annotated[CurrentUser, Depends(require(Permission.CASES_ACT))],
) -> CaseView:
    """Runs the action as a Workflow Update. See `GET /api/v1/processes` for each action's input schema.
    The action is recorded as the signed-in staff member; a system with a token may name its user in
    `actor` (else the token's name is recorded). Grading a complaint `major` needs a supervisor or director."""
    actor = str(payload.get("actor") or "").strip() if user.is_token else ""
    payload = {**payload, "actor": actor or user.display_name}
    return await services.perform_action(
        client=client, number=number, action=action, payload=payload, user=user
    )


@router.get("/cases/{number}", responses=ERRORS)
async def get_case(
    number: str, request: Request, db: SessionDep, client: ClientDep, settings: SettingsDep, user: UserDep
) -> CaseDetail:
    """The Postgres record, steps and timeline, plus the workflow's live answer while it runs. Phones and
    emails are masked (SEC-1) unless the API token has the scope customers:read (then the read is audited)."""
    detail = await services.get_case(db=db, client=client, settings=settings, number=number)
    if not contacts_in_clear(user):
        return CaseDetail.model_validate(mask_json(detail.model_dump(mode="json")))
    await audit(db, request, None, "contacts.read", f"case:{number}")
    await db.commit()
    return detail


@router.get("/cases")
async def list_cases(
    db: SessionDep,
    process: Process | None = None,
    state: CaseState | None = None,
    sla_state: SlaState | None = None,
    owner: Annotated[str | None, Query(max_length=100)] = None,
    owner_role: Annotated[str | None, Query(max_length=40)] = None,
    page: Annotated[int, Query(ge=1)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 50,
) -> CasePage:
    """Cases by next deadline first; filter by process, state, SLA state, owner."""
    filters = {
        "process": process,
        "state": state,
        "sla_state": sla_state,
        "owner": owner,
        "owner_role": owner_role,
    }
    return await services.list_cases(db=db, filters=filters, page=page, page_size=page_size)


@router.get("/processes")
async def list_processes() -> list[ProcessInfo]:
    """Each process, its start schema and its actions with their input schemas."""
    return [
        ProcessInfo(
            process=d.process,
            prefix=CASE_PREFIX[d.process],
            start_schema=start_request_model(d.process, d.intake_model).model_json_schema(),
            actions=[
                ActionInfo(
                    name=a.name,
                    steps=sorted(a.steps) if a.steps is not None else None,
                    states=sorted(a.states),
                    input_schema=a.model.model_json_schema(),
                )
                for a in d.actions
            ],
        )
        for d in PROCESSES.values()
    ]
