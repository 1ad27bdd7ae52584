"""Auth request and response models."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Annotated, Literal

from pydantic import EmailStr, Field, StringConstraints

from orbitask.core.schemas import Input, Output

Name = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Password = Annotated[str, Field(min_length=8, max_length=256)]
WorkspaceRoleIn = Literal["owner", "admin", "member", "guest"]


class RegisterIn(Input):
    email: EmailStr = Field(max_length=254)
    password: Password
    name: Name
    session: Literal["token", "cookie"] = "token"


class LoginIn(Input):
    email: EmailStr = Field(max_length=254)
    password: Annotated[str, Field(min_length=1, max_length=256)]
    session: Literal["token", "cookie"] = "token"


class SignupPending(Output):
    """A sign-up waiting for its e-mailed link: the same answer whether or not the address has an account."""

    status: Literal["verification_sent"] = "verification_sent"
    email: str = Field(description="the address as given")


class VerifyIn(Input):
    token: Annotated[str, Field(min_length=1, max_length=200)]
    session: Literal["token", "cookie"] = "token"


class RefreshIn(Input):
    refresh_token: Annotated[str, Field(min_length=1, max_length=200)] | None = None


class LogoutIn(Input):
    refresh_token: Annotated[str, Field(min_length=1, max_length=200)] | None = None


class UserRead(Output):
    id: uuid.UUID
    email: str
    name: str
    created_at: dt.datetime


class UserBrief(Output):
    id: uuid.UUID
    name: str
    email: str


class SessionOut(Output):
    """Tokens (omitted in cookie mode, where they travel as httpOnly cookies)."""

    user: UserRead
    token_type: str = "bearer"
    access_token: str | None = None
    refresh_token: str | None = None
    expires_in: int
    csrf_token: str | None = None


class ApiTokenCreate(Input):
    name: Name
    expires_in_days: int | None = Field(None, ge=1, le=3650)


class ApiTokenRead(Output):
    id: uuid.UUID
    name: str
    prefix: str
    created_at: dt.datetime
    expires_at: dt.datetime | None
    revoked_at: dt.datetime | None


class ApiTokenCreated(ApiTokenRead):
    token: str = Field(description="shown once; store it now")


class WorkspaceCreate(Input):
    name: Name
    description: Annotated[str, Field(max_length=2000)] = ""


class WorkspaceUpdate(Input):
    name: Name | None = None
    description: Annotated[str, Field(max_length=2000)] | None = None


class WorkspaceRead(Output):
    id: uuid.UUID
    name: str
    description: str
    created_at: dt.datetime
    updated_at: dt.datetime
    role: str | None = None


class MemberRead(Output):
    user: UserBrief
    role: str
    created_at: dt.datetime


class MemberUpdate(Input):
    role: WorkspaceRoleIn


class InvitationCreate(Input):
    role: Literal["admin", "member", "guest"] = "member"
    email: EmailStr | None = None
    max_uses: int | None = Field(None, ge=1, le=1000)
    expires_in_days: int | None = Field(None, ge=1, le=90)


class InvitationRead(Output):
    id: uuid.UUID
    workspace_id: uuid.UUID
    role: str
    email: str | None
    max_uses: int | None
    uses: int
    expires_at: dt.datetime
    token: str | None = Field(None, description="present only in the create response")
    url: str | None = None
    emailed: bool = Field(False, description="the link was e-mailed to `email` (when the server sends e-mail)")


class InvitationAccepted(Output):
    workspace: WorkspaceRead
    role: str
