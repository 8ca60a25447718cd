-- The market session of each of a put's providers (JSON, in the order of
-- providers; "" where none is known), so that a resumed put names the
-- interrupted put's sessions while their providers keep them open: what
-- those sessions paid ahead and did not use is spent, not paid again.
ALTER TABLE puts ADD COLUMN sessions TEXT NOT NULL DEFAULT '[]';
