"""Auth request and response models."""

from __future__ import annotations

import datetime as dt
import functools
import uuid
import zoneinfo
from typing import Annotated, Literal

from pydantic import EmailStr, Field, StringConstraints, computed_field, field_validator

from orbitask.core.schemas import Input, Output

Name = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Password = Annotated[str, Field(min_length=8, max_length=256)]
WorkspaceRoleIn = Literal["owner", "admin", "member", "guest"]
Language = Literal["en", "de", "ja"]
Token = Annotated[str, Field(min_length=1, max_length=200)]
TimeZone = Annotated[str, Field(min_length=1, max_length=64, description="an IANA name, e.g. Europe/Berlin")]


class RegisterIn(Input):
    email: EmailStr = Field(max_length=254)
    password: Password
    name: Name
    session: Literal["token", "cookie"] = "token"
    invitation: Annotated[str, Field(min_length=1, max_length=200)] | None = Field(
        None, description="an invitation link's token: join its workspace instead of getting a personal one"
    )


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
    is_admin: bool = Field(False, description="the instance's administrator")
    created_at: dt.datetime
    email_verified_at: dt.datetime | None = Field(None, description="when a link e-mailed to the address was opened")
    time_zone: str = "UTC"
    language: str = "en"

    @computed_field  # type: ignore[prop-decorator]
    @property
    def email_verified(self) -> bool:
        """Whether the address was shown to be the user's (a link sent to it was opened)."""
        return self.email_verified_at is not None


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


class InvitationPreview(Output):
    """What the sign-in page shows about an invitation link before the person has an account."""

    workspace_name: str
    inviter_name: str


class PasswordResetIn(Input):
    email: EmailStr = Field(max_length=254)


class AccountLinkSent(Output):
    """A link was e-mailed (a reset: only if the address has an account; the answer is the same either way)."""

    status: Literal["link_sent"] = "link_sent"
    email: str = Field(description="the address as given")


class PasswordResetConfirm(Input):
    token: Token
    password: Password


class PasswordChange(Input):
    current_password: Annotated[str, Field(min_length=1, max_length=256)]
    new_password: Password


class EmailChange(Input):
    new_email: EmailStr = Field(max_length=254)
    current_password: Annotated[str, Field(min_length=1, max_length=256)]


class EmailConfirm(Input):
    token: Token


class EmailConfirmed(Output):
    email: str
    email_verified: bool = True


class ProfileUpdate(Input):
    name: Name | None = None
    time_zone: TimeZone | None = None
    language: Language | None = None

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None and value not in time_zones():
            raise ValueError(f"{value!r} is not an IANA time zone name (e.g. Europe/Berlin, UTC)")
        return value


@functools.cache
def time_zones() -> frozenset[str]:
    """The IANA time zone names this Python knows (its tzdata), and UTC."""
    return frozenset(zoneinfo.available_timezones()) | {"UTC"}
