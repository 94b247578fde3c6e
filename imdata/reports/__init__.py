"""Reports on what data and labels hold: the mask audit, the released IM code's labels."""
