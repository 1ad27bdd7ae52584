// The Account page: profile, password, e-mail and sessions, one section each.
import { Layout } from "../ui/Layout";
import { EmailSection } from "./EmailSection";
import { PasswordSection } from "./PasswordSection";
import { ProfileSection } from "./ProfileSection";
import { SessionsSection } from "./SessionsSection";

export function AccountPage() {
  return (
    <Layout>
      <main className="account">
        <h1>Account</h1>
        <ProfileSection />
        <PasswordSection />
        <EmailSection />
        <SessionsSection />
      </main>
    </Layout>
  );
}
