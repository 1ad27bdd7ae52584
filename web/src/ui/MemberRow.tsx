// One person in a member list (a workspace's or a board's): avatar, name and e-mail, and the role, which
// whoever manages the list can change; they can also remove the person.
import type { ReactNode } from "react";
import { Avatar } from "./avatar";

interface Props<R extends string> {
  user: { id: string; name: string; email: string };
  role: R;
  roles: readonly R[];
  /** The role picker's accessible name, e.g. "Role of Ada". */
  roleLabel: string;
  editable: boolean;
  note?: ReactNode;
  testId?: string;
  onRole: (role: R) => void;
  onRemove: () => void;
}

export function MemberRow<R extends string>(props: Props<R>) {
  const { user, role, roles, roleLabel, editable, note, testId, onRole, onRemove } = props;
  return (
    <li data-testid={testId}>
      <Avatar id={user.id} name={user.name} size="m" />
      <span className="grow">
        <strong>{user.name}</strong> <span className="muted">{user.email}</span>
        {note}
      </span>
      {editable ? (
        <>
          <select aria-label={roleLabel} value={role} onChange={(e) => onRole(e.target.value as R)}>
            {roles.map((r) => <option key={r}>{r}</option>)}
          </select>
          <button className="link danger" onClick={onRemove}>Remove</button>
        </>
      ) : (
        <span className="pill">{role}</span>
      )}
    </li>
  );
}
