-- The language a person reads the console in (ko, en); null: their browser's, else the city's.
ALTER TABLE api_users ADD COLUMN language text CHECK (language IN ('ko', 'en'));
