"""Policy rules as versioned data and the pure code that reads them: the health questionnaire and underwriting."""
