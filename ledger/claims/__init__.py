"""Claims: report, documents, assessment, first review, decision and payment, with clocks from the journal."""
