"""Shapes shared by the API's areas: pages, tokens, accounts and keys."""

from __future__ import annotations

from datetime import datetime
from typing import Generic, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field

RoleName = Literal["viewer", "operator", "admin"]


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    items: list[T]
    next_cursor: str | None = Field(
        None, description="pass as `cursor` for the next page; absent on the last"
    )


# -- auth ------------------------------------------------------------------------
class Token(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="seconds")
    role: RoleName


class Me(BaseModel):
    name: str
    role: RoleName
    via: Literal["token", "key"]
    language: Literal["ko", "en"] | None = Field(
        None, description="the language the account reads citywatch in (null: its browser's, else the city's)"
    )


class MePatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    language: Literal["ko", "en"] | None = Field(description="null: the browser's, else the city's")


class LanguageName(BaseModel):
    code: str
    name: str = Field(description="as the language calls itself: 한국어, English")


class WebCatalogue(BaseModel):
    default: str = Field(description="the city's language (CITYWATCH_LANGUAGE)")
    timezone: str = Field(description="the city's time zone: the pages show times in it")
    languages: list[LanguageName]
    messages: dict[str, dict[str, str]] = Field(description="per language, the pages' texts by key")


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(pattern=r"^[A-Za-z0-9_.@-]{2,64}$", examples=["kim.operator"])
    password: str = Field(min_length=10, max_length=256)
    role: RoleName = "viewer"
    full_name: str = Field("", max_length=200)


class UserPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")
    password: str | None = Field(None, min_length=10, max_length=256)
    role: RoleName | None = None
    full_name: str | None = Field(None, max_length=200)
    disabled: bool | None = None


class User(BaseModel):
    username: str
    full_name: str
    role: RoleName
    disabled: bool
    created_at: datetime
    last_login_at: datetime | None


class ApiKeyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200, examples=["grafana", "neighbouring city: Suwon"])
    role: RoleName = "viewer"
    expires_at: datetime | None = None


class ApiKey(BaseModel):
    prefix: str
    name: str
    role: RoleName
    created_by: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None


class NewApiKey(ApiKey):
    key: str = Field(description="the whole key; shown only now, store it safely")


# -- devices ------------------------------------------------------------------------
