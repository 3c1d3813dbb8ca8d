"""fastnn"""
