// The Account page's profile section: name, time zone and language.
import { useEffect, useMemo, useState, type FormEvent } from "react";
import { useSession } from "../auth/session";
import { Failed, Loading } from "../ui/states";
import { accountApi, type Profile } from "./api";

const LANGUAGES: [string, string][] = [["en", "English"], ["de", "Deutsch"], ["ja", "日本語"]];

function timeZones(current: string): string[] {
  const known = Intl.supportedValuesOf("timeZone");
  return [...new Set(["UTC", current, ...known])].sort((a, b) => (a === "UTC" ? -1 : b === "UTC" ? 1 : a.localeCompare(b)));
}

export function ProfileSection() {
  const { updated } = useSession();
  const [profile, setProfile] = useState<Profile | null>(null);
  const [loadError, setLoadError] = useState<string | null>(null);
  const [name, setName] = useState("");
  const [timeZone, setTimeZone] = useState("UTC");
  const [language, setLanguage] = useState("en");
  const [status, setStatus] = useState<{ ok: boolean; text: string } | null>(null);
  const [busy, setBusy] = useState(false);
  const zones = useMemo(() => timeZones(timeZone), [timeZone]);

  useEffect(() => {
    accountApi
      .me()
      .then((me) => {
        setProfile(me);
        setName(me.name);
        setTimeZone(me.time_zone ?? "UTC");
        setLanguage(me.language ?? "en");
      })
      .catch((err: Error) => setLoadError(err.message));
  }, []);

  async function submit(e: FormEvent) {
    e.preventDefault();
    if (!profile) return;
    setBusy(true);
    setStatus(null);
    try {
      const saved = await accountApi.updateProfile({ name: name.trim(), time_zone: timeZone, language });
      setProfile(saved);
      setStatus({ ok: true, text: "Profile saved." });
      updated(saved);
    } catch (err) {
      setStatus({ ok: false, text: (err as Error).message });
    } finally {
      setBusy(false);
    }
  }

  return (
    <section aria-labelledby="account-profile">
      <h2 id="account-profile">Profile</h2>
      {loadError ? (
        <Failed message={`Your profile could not be loaded: ${loadError}`} />
      ) : !profile ? (
        <Loading what="your profile" />
      ) : (
        <form onSubmit={submit}>
          <label>
            Name
            <input name="name" autoComplete="name" required maxLength={100} value={name} onChange={(e) => setName(e.target.value)} />
          </label>
          <label>
            Time zone
            <select name="time_zone" value={timeZone} onChange={(e) => setTimeZone(e.target.value)}>
              {zones.map((zone) => <option key={zone} value={zone}>{zone.replaceAll("_", " ")}</option>)}
            </select>
          </label>
          <label>
            Language
            <select name="language" value={language} onChange={(e) => setLanguage(e.target.value)}>
              {LANGUAGES.map(([code, label]) => <option key={code} value={code}>{label}</option>)}
            </select>
          </label>
          <div aria-live="polite">
            {status && <p className={status.ok ? "muted" : "error"} role={status.ok ? "status" : "alert"}>{status.text}</p>}
          </div>
          <button className="primary" type="submit" disabled={busy}>{busy ? "Saving…" : "Save profile"}</button>
        </form>
      )}
    </section>
  );
}
