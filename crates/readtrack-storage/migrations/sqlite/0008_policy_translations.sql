-- The policy in more than one language: each version keeps its translations, a JSON
-- object from language tag (`en`, `zh-Hant`) to Markdown text. Changing any of them
-- makes a new version, since people acknowledge what they read.
ALTER TABLE policies ADD COLUMN translations TEXT NOT NULL DEFAULT '{}';
