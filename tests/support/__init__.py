"""What the template's tests use: baking, running, checking. No test lives here."""
