-- Removes dashboard sign-in; API credentials are untouched.
DROP TABLE IF EXISTS dashboard_users;
