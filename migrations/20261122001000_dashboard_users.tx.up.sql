-- Dashboard team members: the people of a business who sign in to /dashboard.
-- business_id leads the primary key like every tenant table. An email is unique
-- per business, and also across businesses, because the sign-in form asks for an
-- email and a password only: one email must name one account. Passwords are stored
-- as bcrypt hashes only (created by `tally users create`).
CREATE TABLE dashboard_users (
	business_id   text NOT NULL REFERENCES businesses (id),
	id            text NOT NULL,
	email         text NOT NULL CHECK (email = lower(email) AND length(email) BETWEEN 3 AND 254),
	role          text NOT NULL CHECK (role IN ('owner', 'viewer')),
	password_hash text NOT NULL,
	created_at    timestamptz NOT NULL DEFAULT now(),
	PRIMARY KEY (business_id, id)
);
CREATE UNIQUE INDEX dashboard_users_business_email ON dashboard_users (business_id, email);
CREATE UNIQUE INDEX dashboard_users_email ON dashboard_users (email);
