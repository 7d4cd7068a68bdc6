"""The Streamlit web app, as small views; ``streamlit_app.py`` is only the page's outline.

    state       the session's typed records (pictures, result, gallery, the pending action)
    resources   what the server shares: the VGG19 extractor, the run queue, the examples
    sidebar     one table of Settings fields and their widgets
    inputs      upload boxes, example pickers, blended styles, large shapes from another painting, the start picture
    turns       every run takes its turn on the device, then gets the model
    stylize     Stylize / Stop / Continue, the live preview, the result
    race, grid, layers, inside, gallery: one module per teaching view
    display     small helpers: thumbnails, PNG bytes, file names, the settings table

Only this package imports Streamlit; the engine (``nst``) never does.
"""
