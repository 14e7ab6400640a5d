"""bionmf.io"""
