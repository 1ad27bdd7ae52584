// Initials in a coloured circle: no user-supplied image, so nothing to sanitise.
const COLORS = ["#2563eb", "#16a34a", "#db2777", "#ea580c", "#7c3aed", "#0891b2", "#ca8a04", "#dc2626"];

function hash(s: string): number {
  let h = 0;
  for (let i = 0; i < s.length; i++) h = (h * 31 + s.charCodeAt(i)) | 0;
  return Math.abs(h);
}

export function initials(name: string): string {
  const parts = name.trim().split(/\s+/).filter(Boolean);
  return ((parts[0]?.[0] ?? "?") + (parts.length > 1 ? parts[parts.length - 1][0] : "")).toUpperCase();
}

const sizes = { s: "avatar-s", m: "avatar-m" } as const;

export function Avatar({ id, name, size = "s", decorative }: { id: string; name: string; size?: keyof typeof sizes; decorative?: boolean }) {
  const a11y = decorative ? { "aria-hidden": true } : { role: "img", "aria-label": name };
  return (
    <span className={`avatar ${sizes[size]} c${hash(id) % COLORS.length}`} title={name} {...a11y}>
      {initials(name)}
    </span>
  );
}
