"""The organisation guardrails program (org/): SCPs attached to the factory's OU or account.

Run in the organisation's management account, never in the factory's: SCPs do not apply to the
management account, so the factory lives in a member account the SCPs govern.
"""
