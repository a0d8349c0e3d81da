"""Mail adapters: IMAP polling, SMTP sending, the HTTP raw-MIME intake. Transport only; the services decide."""
