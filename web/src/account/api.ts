// Account calls: profile, password, e-mail, password reset.
import { ApiError, problemMessage, type User } from "../api/client";
import { apiFetch } from "../api/http";

export type Profile = User;

export type ProfileChange = Partial<Pick<Profile, "name" | "time_zone" | "language">>;

/** A link was e-mailed (for a reset: only if the address has an account; the answer is the same). */
export interface LinkSent {
  status: "link_sent";
  email: string;
}

export interface EmailConfirmed {
  email: string;
  email_verified: boolean;
}

async function call<T>(method: string, path: string, body?: unknown): Promise<T> {
  const init: RequestInit = { method };
  if (body !== undefined) {
    init.headers = { "Content-Type": "application/json" };
    init.body = JSON.stringify(body);
  }
  let res: Response;
  try {
    res = await apiFetch(new Request(new URL(path, window.location.origin), init));
  } catch {
    throw new ApiError("The server could not be reached; check your connection.", 0);
  }
  const data: unknown = res.status === 204 ? null : await res.json().catch(() => null);
  if (!res.ok) throw new ApiError(problemMessage(data, res.status), res.status);
  return data as T;
}

export const accountApi = {
  me: () => call<Profile>("GET", "/api/v1/me"),
  updateProfile: (change: ProfileChange) => call<Profile>("PATCH", "/api/v1/me", change),
  changePassword: (current_password: string, new_password: string) =>
    call<null>("POST", "/api/v1/auth/password", { current_password, new_password }),
  changeEmail: (new_email: string, current_password: string) =>
    call<LinkSent>("POST", "/api/v1/auth/email", { new_email, current_password }),
  resendVerification: () => call<LinkSent>("POST", "/api/v1/auth/email/verification"),
  confirmEmail: (token: string) => call<EmailConfirmed>("POST", "/api/v1/auth/email/confirm", { token }),
  requestReset: (email: string) => call<LinkSent>("POST", "/api/v1/auth/password-reset", { email }),
  confirmReset: (token: string, password: string) =>
    call<null>("POST", "/api/v1/auth/password-reset/confirm", { token, password }),
};
