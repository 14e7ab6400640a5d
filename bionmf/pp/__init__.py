"""bionmf.pp"""
