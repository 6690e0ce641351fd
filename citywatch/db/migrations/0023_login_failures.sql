-- Failed logins to the API, shared by every worker and instance: the login limiter (api/security.py) counts
-- them per account from one address, per account and per address over its window, and forgets them after.
CREATE TABLE login_failures (
    at      timestamptz NOT NULL DEFAULT now(),
    account text NOT NULL,   -- the user name tried, lower case (an account that does not exist counts too)
    address text NOT NULL    -- the client's address
);
CREATE INDEX login_failures_account ON login_failures (account, at);
CREATE INDEX login_failures_address ON login_failures (address, at);
