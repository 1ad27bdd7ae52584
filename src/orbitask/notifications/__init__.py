"""The Notification service: in-app notifications, e-mail, webhooks and due-date reminders."""
