from valuegym.cli import app

app(prog_name="valuegym")
